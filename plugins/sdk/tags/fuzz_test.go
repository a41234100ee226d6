package tags

import (
	"errors"
	"strings"
	"testing"
)

// The fuzz markers: only the "Evil" field and the KEY secret hold them, so
// they can reach the output only through a tag that names those.
const (
	evilMarker   = "⟦EXPANDED⟧"
	secretMarker = "⟦SECRET⟧"
)

func FuzzParseRender(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzParseRender.
	f.Add("Hello {{Name}}", "{{Evil}}")
	f.Add(`{{#each items}}{{name}}{{/each}}`, "{{ .secrets.KEY }}")
	f.Fuzz(func(t *testing.T, src, val string) {
		// A value comes out exactly as it went in, whatever it contains.
		one, err := Parse("[{{A}}]")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := one.Render(Scope{Fields: map[string]any{"A": val}}); err != nil || out != "["+val+"]" {
			t.Fatalf("value %q rendered as %q, %v", val, out, err)
		}

		tpl, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse error is %T, want *SyntaxError", err)
			}
			if se.Offset < 0 || se.Offset > len(src) || se.Line < 1 || se.Col < 1 || se.Msg == "" {
				t.Fatalf("bad position or message: %+v", se)
			}
			return
		}
		for _, r := range tpl.Refs() {
			if !strings.HasPrefix(src[r.Offset:], r.Tag) {
				t.Fatalf("ref %+v: offset does not point at its tag", r)
			}
		}
		s := Scope{
			Fields: map[string]any{
				"A":     val,
				"B":     "{{Evil}}",
				"C":     "{{ .secrets.KEY }}",
				"D":     "{{#if A}}{{Evil}}{{/if}}",
				"items": []any{map[string]any{"name": "{{Evil}}"}, val},
				"Evil":  evilMarker,
			},
			Blocks:  map[string]any{"b": map[string]any{"x": "{{Evil}}", "y": val}},
			Secrets: func(name string) (string, bool) { return secretMarker, name == "KEY" },
			Missing: MissingBlank,
		}
		out, err := tpl.Render(s)
		if err != nil {
			return // a helper may refuse a value; it must not panic
		}
		lower := strings.ToLower(src)
		if !strings.Contains(src+val, "⟦") {
			if !strings.Contains(lower, "evil") && strings.Contains(out, evilMarker) {
				t.Fatalf("a value's tag was expanded: %q → %q", src, out)
			}
			if !strings.Contains(lower, "secrets") && strings.Contains(out, secretMarker) {
				t.Fatalf("a value's secret tag was expanded: %q → %q", src, out)
			}
		}
	})
}
