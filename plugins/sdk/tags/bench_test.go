package tags

import (
	"strings"
	"testing"
	"text/template"
)

// The benchmarks pair each template with its text/template equivalent, the
// baseline measured in the same run: compare the ns/op of tags/* and
// text-template/* of one case.

var benchFields = map[string]any{
	"Name":       "Ada Lovelace",
	"First Name": "Ada",
	"Email":      "ada@example.com",
	"Country":    "DE",
	"Amount":     "1234.5",
	"items": []any{
		map[string]any{"name": "Analytical engine", "qty": "1"},
		map[string]any{"name": "Punched cards", "qty": "500"},
		map[string]any{"name": "Ink", "qty": "3"},
	},
}

var benchCases = []struct {
	name, tags, text string
}{
	{"static", "Your invoice is attached.", "Your invoice is attached."},
	{"field", "Hello {{First Name}}", `Hello {{index . "First Name"}}`},
	{"email",
		"Dear {{First Name}},\n{{#if Country == \"DE\"}}Guten Tag!{{else}}Hello!{{/if}}\n" +
			"Your total is {{Amount | currency \"EUR\"}}.\n{{#each items}}- {{name}} × {{qty}}\n{{/each}}Bye {{Name | upper}}",
		"Dear {{index . \"First Name\"}},\n{{if eq .Country \"DE\"}}Guten Tag!{{else}}Hello!{{end}}\n" +
			"Your total is {{money .Amount}}.\n{{range .items}}- {{.name}} × {{.qty}}\n{{end}}Bye {{upper .Name}}"},
}

func BenchmarkRender(b *testing.B) {
	funcs := template.FuncMap{
		"upper": strings.ToUpper,
		"money": func(v any) string { neg, ip, fp, _ := decimal(v); return "€" + formatDecimal(neg, ip, fp, 2) },
	}
	for _, tc := range benchCases {
		tpl, err := Parse(tc.tags)
		if err != nil {
			b.Fatal(err)
		}
		std := template.Must(template.New(tc.name).Funcs(funcs).Parse(tc.text))
		s := Scope{Fields: benchFields}
		want, err := tpl.Render(s)
		if err != nil {
			b.Fatal(err)
		}
		var sb strings.Builder
		if err := std.Execute(&sb, benchFields); err != nil || sb.String() != want {
			b.Fatalf("the baseline renders differently:\n%s\n%s %v", want, sb.String(), err)
		}
		b.Run("tags/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tpl.Render(s); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("text-template/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var sb strings.Builder
				if err := std.Execute(&sb, benchFields); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	src := benchCases[len(benchCases)-1].tags
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(src); err != nil {
			b.Fatal(err)
		}
	}
}
