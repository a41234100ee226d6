package tags_test

import (
	"fmt"
	"html"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

func Example() {
	t, err := tags.Parse(`Dear {{First Name | default "customer"}}, you owe {{Amount | currency "EUR"}}` +
		`{{#if Country == "DE"}} (inkl. MwSt.){{/if}}.`)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := t.Render(tags.Scope{Fields: map[string]any{"First Name": "Ada", "Amount": "1234.5", "Country": "DE"}})
	fmt.Println(out, err)
	// Output: Dear Ada, you owe €1,234.50 (inkl. MwSt.). <nil>
}

func ExampleParse_error() {
	_, err := tags.Parse("Hello {{Name")
	fmt.Println(err)
	// Output: 1:7: unclosed tag "{{Name": add "}}"
}

func ExampleTemplate_Refs() {
	t, _ := tags.Parse("{{Email}} {{ .secrets.SMTP_PASSWORD }} {{blocks.fill.url}}")
	for _, r := range t.Refs() {
		fmt.Println(r.Kind, r.Path, r.Col)
	}
	// Output:
	// field Email 1
	// secret SMTP_PASSWORD 11
	// block fill.url 40
}

func ExampleScope_escape() {
	t, _ := tags.Parse("<p>Hello {{Name}}</p>")
	out, _ := t.Render(tags.Scope{Fields: map[string]any{"Name": "<script>"}, Escape: html.EscapeString})
	fmt.Println(out)
	// Output: <p>Hello &lt;script&gt;</p>
}
