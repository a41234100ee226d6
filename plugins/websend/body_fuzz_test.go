package websend

import (
	"encoding/json"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// FuzzPortalVariables: rewriting #name variables never turns a template
// that parses into one that does not.
func FuzzPortalVariables(f *testing.F) {
	for _, s := range []string{"#event_type", "{{#if a}}#run_id{{/if}}", "#data.a.b.", "##item_id#workflow", "a#b #data. {{x}} #", "{{ \"#event_id\" }}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if _, err := tags.Parse(src); err != nil {
			return
		}
		if _, err := tags.Parse(portalVariables(src)); err != nil {
			t.Errorf("%q parses, its rewrite %q does not: %v", src, portalVariables(src), err)
		}
	})
}

// FuzzStructuredBody: whatever a body leaf says and whatever value the
// event holds, a structured body renders as valid JSON.
func FuzzStructuredBody(f *testing.F) {
	f.Add("{{data.v}}", "O\"Brien \\ \n 🎉")
	f.Add("said \"{{data.v}}\" #data.v", "\x00\x7f</script>")
	f.Add("#data.v", "12")
	f.Add("{{data.v | upper}} {{data.missing}}", "\xff\xfe")
	f.Fuzz(func(t *testing.T, leaf, value string) {
		p, err := compileBody("body", map[string]any{"a": leaf, "b": []any{leaf, json.Number("1")}}, func(_, src string) *tags.Template {
			tpl, err := tags.Parse(src)
			if err != nil {
				return nil
			}
			return tpl
		})
		if err != nil || p == nil {
			return
		}
		env := map[string]any{"eventType": "X", "data": map[string]any{"v": value}}
		out, err := p.render(env, tags.Scope{Fields: env})
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Errorf("leaf %q with %q rendered invalid JSON: %s", leaf, value, out)
		}
	})
}
