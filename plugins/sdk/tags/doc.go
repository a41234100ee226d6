// Package tags is the one tag language of paperflow. Workflow `with:` values,
// document templates and email subjects and bodies all use it, so a block that
// renders text imports this package rather than inventing its own syntax.
//
// # Tags
//
//	{{Field Name}}                 an item field; spaces allowed, surrounding spaces trimmed
//	{{customer.address.city}}      a path into nested values
//	{{items.0.name}}               an array index inside a path
//	{{ .secrets.SMTP_PASSWORD }}   a secret
//	{{blocks.fill.url}}            the output of an earlier block (here the block with id "fill")
//	{{"{{"}}                       a quoted literal; the way to write "{{" as text
//
// A field is matched exactly first, then case-insensitively. In a path, a key
// whose literal name contains dots wins: {{a.b}} reads the field "a.b" when it
// exists, else the key "b" inside the field "a". "blocks", ".secrets", "this"
// and "@index" are reserved roots.
//
// # Helpers
//
// A value goes through helpers left to right with "|":
//
//	{{Date | date "2 January 2006"}}   reformat a date (Go layout); the input may be RFC 3339,
//	                                   2006-01-02, 02/01/2006 (day first), 02.01.2006, 2 Jan 2006, …
//	{{Amount | number 2}}              1234.5 → 1,234.50 (no argument keeps the decimals as they are)
//	{{Amount | currency "EUR"}}        €1,234.50; USD $, GBP £; other codes 1,234.50 CHF
//	{{Name | default "friend"}}        the argument when the value is missing or empty
//	{{Name | upper}} {{Name | lower}} {{Name | trim}}
//
// Numbers are rounded half away from zero on their decimal digits, so 2.675
// becomes 2.68 as a person expects. An empty value passes through date, number
// and currency unchanged, so optional columns need no special case.
//
// # Sections
//
//	{{#if Paid}}…{{else}}…{{/if}}
//	{{#if Country == "DE"}}…{{/if}}     also !=; numbers compare as numbers
//	{{#unless Paid}}…{{/unless}}
//	{{#each items}}{{@index}}: {{name}} × {{this.qty}}{{else}}no items{{/each}}
//
// A value is true unless it is empty, false, 0, "false" or "no" (see [Truthy]).
// Inside #each a plain {{name}} looks in the current element first, then
// outward; {{this}} is the element and {{@index}} its 0-based position. A
// comparison may also stand alone, {{Country == "DE"}}, and renders "true" or
// "false"; that is handy in a workflow's `if:`.
//
// # Missing values
//
// With the default [MissingError] a tag whose field, block or secret does not
// exist makes Render fail with an [*UnknownRefError]; [MissingBlank] renders
// it as "". Some places never fail on a missing value, because testing is
// their job: a section opener ({{#if}}, {{#unless}}, {{#each}}) and a
// comparison see it as empty, and a tag with the default helper uses the
// default.
//
// # Values are data
//
// Rendered values are never parsed again: a field holding "{{ .secrets.KEY }}"
// comes out as exactly that text. [Scope].Escape, when set (for example
// html.EscapeString for an HTML body), is applied to every tag's output and
// never to the template's own text.
//
// # Use
//
// Parse once, render many times; a *Template is safe for concurrent use.
//
//	t, err := tags.Parse("Dear {{Name | default \"friend\"}}")
//	…
//	out, err := t.Render(tags.Scope{Fields: row})
package tags
