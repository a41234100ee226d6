package tags

import (
	"encoding/json"
	"errors"
	"html"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testScope() Scope {
	return Scope{
		Fields: map[string]any{
			"Name":       "Ada",
			"Field Name": "spaced",
			"Email":      "ada@example.com",
			"Country":    "DE",
			"Amount":     "1234.5",
			"Float":      2.675,
			"Int":        int64(1234567),
			"Date":       "2024-03-05",
			"Paid":       "no",
			"Zero":       "0",
			"Empty":      "",
			"Count":      int64(3),
			"a.b":        "literal dotted",
			"a":          map[string]any{"b": "nested", "c": "only nested"},
			"No.":        "trailing dot",
			"customer": map[string]any{
				"address": map[string]any{"city": "Berlin"},
			},
			"items": []any{
				map[string]any{"name": "pen", "qty": int64(2)},
				map[string]any{"name": "ink", "qty": int64(1)},
			},
			"tags":           []string{"x", "y"},
			"when":           time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
			"Evil":           "{{Name}} {{ .secrets.KEY }}",
			"html":           "<b>&</b>",
			"Client's email": "c@example.com",
		},
		Blocks: map[string]any{
			"fill": map[string]any{"url": "https://x/doc.pdf", "documents": []any{map[string]any{"id": "d1"}}},
		},
		Secrets: func(name string) (string, bool) {
			if name == "KEY" {
				return "s3cret", true
			}
			return "", false
		},
	}
}

func TestRender(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"", ""},
		{"plain text", "plain text"},
		{"Hello {{Name}}!", "Hello Ada!"},
		{"{{ Name }}", "Ada"},
		{"{{Field Name}}", "spaced"},
		{"{{  Field Name  }}", "spaced"},
		{"{{name}}", "Ada"},                     // case-insensitive fallback
		{"{{Client's email}}", "c@example.com"}, // an apostrophe is part of the name
		{"{{customer.address.city}}", "Berlin"},
		{"{{a.b}}", "literal dotted"},
		{"{{a.c}}", "only nested"},
		{"{{No.}}", "trailing dot"},
		{"{{items.0.name}}", "pen"},
		{"{{items.1.qty}}", "1"},
		{"{{tags.1}}", "y"},
		{"{{ .secrets.KEY }}", "s3cret"},
		{"{{.secrets.KEY}}", "s3cret"},
		{"{{blocks.fill.url}}", "https://x/doc.pdf"},
		{"{{blocks.fill.documents.0.id}}", "d1"},
		{"{{Int}}", "1234567"},
		{"{{Float}}", "2.675"},
		{"{{when}}", "2024-01-02T03:04:05Z"},
		{"{{Evil}}", "{{Name}} {{ .secrets.KEY }}"},
		{`{{"{{"}}Name}}`, "{{Name}}"},
		{`{{'single'}}`, "single"},
		{`{{"a \" b"}}`, `a " b`},

		{`{{Date | date "2 January 2006"}}`, "5 March 2024"},
		{`{{Date | date}}`, "5 March 2024"},
		{`{{"05/03/2024" | date "2006-01-02"}}`, "2024-03-05"},
		{`{{"5.3.2024" | date "2006-01-02"}}`, "2024-03-05"},
		{`{{"2024-03-05T10:00:00+01:00" | date "15:04 MST"}}`, "10:00 +0100"},
		{`{{"5 Mar 2024" | date "Jan 2"}}`, "Mar 5"},
		{`{{"March 5, 2024" | date "2006-01-02"}}`, "2024-03-05"},
		{`{{when | date "2006-01-02"}}`, "2024-01-02"},
		{`{{Empty | date}}`, ""},
		{`{{Amount | number 2}}`, "1,234.50"},
		{`{{Amount | number}}`, "1,234.5"},
		{`{{Amount | number 0}}`, "1,235"},
		{`{{Int | number}}`, "1,234,567"},
		{`{{Float | number 2}}`, "2.68"},
		{`{{"-0.004" | number 2}}`, "0.00"},
		{`{{"-1999.995" | number 2}}`, "-2,000.00"},
		{`{{"999.5" | number 0}}`, "1,000"},
		{`{{"1,234.5" | number 1}}`, "1,234.5"},
		{`{{"1e3" | number}}`, "1,000"},
		{`{{Amount | currency "EUR"}}`, "€1,234.50"},
		{`{{Amount | currency "usd"}}`, "$1,234.50"},
		{`{{Amount | currency "GBP"}}`, "£1,234.50"},
		{`{{Amount | currency "CHF"}}`, "1,234.50 CHF"},
		{`{{Amount | currency "JPY"}}`, "1,235 JPY"},
		{`{{"-5" | currency "EUR"}}`, "-€5.00"},
		{`{{Empty | currency "EUR"}}`, ""},
		{`{{Nobody | default "friend"}}`, "friend"},
		{`{{Empty | default "friend"}}`, "friend"},
		{`{{Name | default "friend"}}`, "Ada"},
		{`{{Nobody | default 0}}`, "0"},
		{`{{Name | upper}}`, "ADA"},
		{`{{Name | lower | upper}}`, "ADA"},
		{`{{" x " | trim}}`, "x"},
		{`{{Nobody | default " Bob " | trim | upper}}`, "BOB"},
		{`{{Country == "DE"}}`, "true"},
		{`{{Country != "DE"}}`, "false"},
		{`{{Nobody == "DE"}}`, "false"}, // a comparison is a test: missing is empty
		{`{{Nobody == ""}}`, "true"},

		{`{{#if Name}}yes{{/if}}`, "yes"},
		{`{{#if Paid}}yes{{else}}no{{/if}}`, "no"},
		{`{{#if Zero}}yes{{else}}no{{/if}}`, "no"},
		{`{{#if Empty}}yes{{else}}no{{/if}}`, "no"},
		{`{{#if Nobody}}yes{{else}}no{{/if}}`, "no"}, // a missing value is empty in a section
		{`{{#if Country == "DE"}}Hallo{{else}}Hello{{/if}}`, "Hallo"},
		{`{{#if Country == 'FR'}}Bonjour{{else}}Hello{{/if}}`, "Hello"},
		{`{{#if Country != "FR"}}not FR{{/if}}`, "not FR"},
		{`{{#if Count == 3}}three{{/if}}`, "three"},
		{`{{#if Count == 3.0}}three{{/if}}`, "three"},
		{`{{#if Name | lower == "ada"}}ok{{/if}}`, "ok"},
		{`{{#unless Paid}}please pay{{/unless}}`, "please pay"},
		{`{{#unless Name}}x{{else}}y{{/unless}}`, "y"},
		{`{{#if Name}}{{#if Paid}}a{{else}}b{{/if}}{{/if}}`, "b"},
		{"{{#each items}}{{@index}}:{{name}}x{{qty}} {{/each}}", "0:penx2 1:inkx1 "},
		{"{{#each items}}{{this.name}}/{{Name}};{{/each}}", "pen/Ada;ink/Ada;"},
		{"{{#each tags}}[{{this}}]{{/each}}", "[x][y]"},
		{"{{#each Nobody}}x{{else}}none{{/each}}", "none"},
		{"{{#each Empty}}x{{else}}none{{/each}}", "none"},
		{"{{#each blocks.fill.documents}}{{id}}{{/each}}", "d1"},
		{"{{#each items}}{{#each tags}}{{this}}{{/each}}{{/each}}", "xyxy"},
		{"line1\n{{Name}}\n{{#if Name}}\nx\n{{/if}}", "line1\nAda\n\nx\n"},
		{"a }} b {", "a }} b {"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			tpl, err := Parse(tc.src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := tpl.Render(testScope())
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"Hello {{Name", `1:7: unclosed tag "{{Name": add "}}"`},
		{"Hello {{Name\nmore}}", `1:7: unclosed tag "{{Name": add "}}"`},
		{"ab\ncd {{Name {{Other}}", `2:4: unclosed tag "{{Name": add "}}"`},
		{"é {{x", `1:3: unclosed tag "{{x": add "}}"`},
		{"{{}}", `1:1: empty tag "{{}}": write a field name, e.g. {{Name}}`},
		{"{{  }}", `1:1: empty tag "{{  }}": write a field name, e.g. {{Name}}`},
		{"{{Name | uper}}", `1:10: unknown helper "uper" (did you mean "upper"?): helpers are currency, date, default, lower, number, trim, upper`},
		{"{{Name | }}", `1:10: a helper name must follow "|" in "{{Name | }}", e.g. | upper`},
		{"{{Name | upper 2}}", `1:10: helper "upper" takes no arguments in "{{Name | upper 2}}": write {{Name | upper}}`},
		{"{{A | number two}}", `1:14: unexpected "two" after helper "number" in "{{A | number two}}": quote text arguments, e.g. {{Amount | number 2}}`},
		{"{{A | number 2.5}}", `1:7: helper "number" takes the number of decimals (0 to 20) in "{{A | number 2.5}}": write {{Amount | number 2}}`},
		{`{{A | currency "EU"}}`, `1:7: helper "currency" takes a quoted 3-letter currency code in "{{A | currency \"EU\"}}": write {{Amount | currency "EUR"}}`},
		{`{{A | date 2006}}`, `1:7: helper "date" takes one quoted Go layout in "{{A | date 2006}}": write {{Date | date "2 January 2006"}}`},
		{`{{A | default}}`, `1:7: helper "default" takes the value to use when there is none in "{{A | default}}": write {{Name | default "friend"}}`},
		{`{{A | date "2 Jan}}`, `1:12: unterminated string in "{{A | date \"2 Jan}}": add the closing "`},
		{"{{#if}}x{{/if}}", `1:1: "{{#if}}" needs a condition, e.g. {{#if Paid}} or {{#if Country == "DE"}}`},
		{"{{#if A}}x", `1:1: unclosed section "{{#if A}}": add "{{/if}}" where it ends`},
		{"x{{/if}}", `1:2: "{{/if}}" closes nothing: remove it, or open the section with {{#if …}} before it`},
		{"{{#if A}}x{{/each}}", `1:11: "{{/each}}" cannot close "{{#if A}}": write {{/if}}`},
		{"{{#unless A}}x{{/if}}", `1:15: "{{/if}}" cannot close "{{#unless A}}": write {{/unless}}`},
		{"{{/fi}}", `1:1: unknown closing tag "{{/fi}}": use {{/if}}, {{/unless}} or {{/each}}`},
		{"{{#when A}}", `1:4: unknown section "#when": use #if, #unless or #each`},
		{"{{else}}", `1:1: {{else}} outside a section: it belongs between {{#if …}} and {{/if}}`},
		{"{{#if A}}{{else}}{{else}}{{/if}}", `1:18: a second {{else}} in "{{#if A}}": a section has at most one`},
		{"{{#if A}}{{else if B}}{{/if}}", `1:10: "{{else if B}}": {{else}} stands alone; to test another condition nest {{#if …}} inside {{else}}`},
		{"{{#each}}{{/each}}", `1:1: "{{#each}}" needs a list, e.g. {{#each items}}`},
		{"{{#each items | upper}}{{/each}}", `1:15: helpers cannot be used in "{{#each items | upper}}": write {{#each items}}`},
		{"{{ .secret.X }}", `1:4: ".secret.X" in "{{ .secret.X }}": a secret is {{ .secrets.NAME }}; a field has no leading dot`},
		{"{{ .secrets }}", `1:4: "{{ .secrets }}" needs a secret name: {{ .secrets.NAME }}`},
		{"{{ .secrets.A-B }}", `1:4: bad secret name "A-B" in "{{ .secrets.A-B }}": use letters, digits and _, e.g. {{ .secrets.API_KEY }}`},
		{"{{blocks}}", `1:3: "{{blocks}}" needs a block id: {{blocks.<id>.<field>}}`},
		{"{{this}}", `1:3: "{{this}}" is only known inside {{#each …}}`},
		{"{{@index}}", `1:3: "{{@index}}" is only known inside {{#each …}}`},
		{"{{#each items}}{{else}}{{this}}{{/each}}", `1:26: "{{this}}" is only known inside {{#each …}}`},
		{`{{A ==}}`, `1:7: nothing to compare with in "{{A ==}}": add a value, e.g. == "DE"`},
		{`{{"x" y}}`, `1:7: unexpected "y" in "{{\"x\" y}}": a tag is a field, then helpers after "|"; quote text arguments`},
	} {
		t.Run(tc.src, func(t *testing.T) {
			_, err := Parse(tc.src)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *SyntaxError", err)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if se.Offset < 0 || se.Offset > len(tc.src) {
				t.Errorf("offset %d outside the source", se.Offset)
			}
		})
	}
}

func TestRefs(t *testing.T) {
	src := "Hi {{Field Name}},\n{{#if Country == \"DE\"}}{{ .secrets.KEY }}{{/if}} {{blocks.fill.url | upper}}" +
		"{{#each items}}{{name}}{{this.qty}}{{@index}}{{/each}}{{#if Count == 3}}{{/if}}"
	tpl, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []Ref{
		{Kind: RefField, Path: "Field Name", Tag: "{{Field Name}}", Offset: 3, Line: 1, Col: 4},
		{Kind: RefField, Path: "Country", Tag: `{{#if Country == "DE"}}`, Offset: 19, Line: 2, Col: 1},
		{Kind: RefSecret, Path: "KEY", Tag: "{{ .secrets.KEY }}", Offset: 42, Line: 2, Col: 24},
		{Kind: RefBlock, Path: "fill.url", Tag: "{{blocks.fill.url | upper}}", Offset: 68, Line: 2, Col: 50},
		{Kind: RefField, Path: "items", Tag: "{{#each items}}", Offset: 95, Line: 2, Col: 77},
		{Kind: RefField, Path: "name", Tag: "{{name}}", Offset: 110, Line: 2, Col: 92},
		{Kind: RefField, Path: "Count", Tag: "{{#if Count == 3}}", Offset: 149, Line: 2, Col: 131},
	}
	if got := tpl.Refs(); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	for _, r := range want {
		if !strings.HasPrefix(src[r.Offset:], r.Tag) {
			t.Errorf("offset %d does not point at %s", r.Offset, r.Tag)
		}
	}
	if id := want[3].BlockID(); id != "fill" {
		t.Errorf("BlockID = %q", id)
	}
}

func TestUnknownRefs(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"Hi {{Nme}}", `unknown field "Nme" in {{Nme}} at 1:4 (did you mean "Name"?)`},
		{"{{customer.adress.city}}", `unknown field "customer.adress.city" in {{customer.adress.city}} at 1:1`},
		{"{{ .secrets.NOPE }}", `unknown secret "NOPE" in {{ .secrets.NOPE }} at 1:1`},
		{"{{blocks.fil.url}}", `no output from block "fil" in {{blocks.fil.url}} at 1:1 (did you mean "fill"?)`},
		{"{{blocks.fill.ur}}", `block "fill" has no output "ur" in {{blocks.fill.ur}} at 1:1 (did you mean "url"?)`},
		{"{{Nobody | upper}}", `unknown field "Nobody" in {{Nobody | upper}} at 1:1`},
	} {
		t.Run(tc.src, func(t *testing.T) {
			tpl, err := Parse(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tpl.Render(testScope())
			var ue *UnknownRefError
			if !errors.As(err, &ue) {
				t.Fatalf("got %v, want an *UnknownRefError", err)
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
			s := testScope()
			s.Missing = MissingBlank
			if out, err := tpl.Render(s); err != nil || out != strings.SplitN(tc.src, "{{", 2)[0] {
				t.Errorf("MissingBlank: got %q, %v", out, err)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"{{Name | date}}", `{{Name | date}} at 1:1: cannot read "Ada" as a date: write it as 2006-01-02, 02/01/2006 (day first) or 2006-01-02T15:04:05Z`},
		{"{{Name | number 2}}", `{{Name | number 2}} at 1:1: "Ada" is not a number`},
		{`{{"1,5" | currency "EUR"}}`, `{{"1,5" | currency "EUR"}} at 1:1: "1,5" is not an amount`},
		{"{{#each Name}}x{{/each}}", `{{#each Name}} at 1:1: "Name" is text, not a list`},
		{"{{#each customer}}x{{/each}}", `{{#each customer}} at 1:1: "customer" is not a list`},
		// A secret's value is never quoted.
		{"{{ .secrets.KEY | number 2 }}", `{{ .secrets.KEY | number 2 }} at 1:1: helper "number" cannot use the value of secret KEY (not shown here)`},
		{"{{ .secrets.KEY | upper | date }}", `{{ .secrets.KEY | upper | date }} at 1:1: helper "date" cannot use the value of secret KEY (not shown here)`},
	} {
		t.Run(tc.src, func(t *testing.T) {
			tpl, err := Parse(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tpl.Render(testScope())
			var re *RenderError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a *RenderError", err)
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	tpl, err := Parse("<p>{{html}} & {{Name}}</p>")
	if err != nil {
		t.Fatal(err)
	}
	s := testScope()
	s.Escape = html.EscapeString
	got, err := tpl.Render(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := "<p>&lt;b&gt;&amp;&lt;/b&gt; & Ada</p>"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestTruthy(t *testing.T) {
	for v, want := range map[any]bool{
		nil: false, "": false, " ": false, "0": false, "false": false, "FALSE": false, "no": false, "No": false,
		false: false, 0: false, int64(0): false, 0.0: false,
		"x": true, "yes": true, "true": true, "00": true, true: true, 1: true, int64(2): true, 0.5: true,
		json.Number("1"): true, json.Number("0"): false,
	} {
		if got := Truthy(v); got != want {
			t.Errorf("Truthy(%#v) = %v, want %v", v, got, want)
		}
	}
	if Truthy([]any{}) || !Truthy([]any{1}) || Truthy(map[string]any{}) {
		t.Error("Truthy of lists and maps")
	}
}

func TestHasTags(t *testing.T) {
	if HasTags("a } b {") || !HasTags("a {{b") {
		t.Error("HasTags")
	}
}

func TestConcurrentRender(t *testing.T) {
	tpl, err := Parse("{{#each items}}{{name}}{{/each}} {{Name | upper}}")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for range 8 {
		go func() {
			out, _ := tpl.Render(testScope())
			done <- out
		}()
	}
	for range 8 {
		if got := <-done; got != "penink ADA" {
			t.Errorf("got %q", got)
		}
	}
}

func TestField(t *testing.T) {
	fields := map[string]any{"Name": "Ada", "email": "ada@example.com"}
	for _, c := range []struct {
		name, key string
		ok        bool
	}{
		{"Name", "Name", true},
		{"name", "Name", true},
		{"EMAIL", "email", true},
		{"phone", "", false},
	} {
		key, v, ok := Field(fields, c.name)
		if key != c.key || ok != c.ok || (ok && v != fields[c.key]) {
			t.Errorf("Field(%q) = %q, %v, %v; want %q, %v", c.name, key, v, ok, c.key, c.ok)
		}
	}
}
