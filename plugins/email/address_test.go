package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

func TestParseAddresses(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   []string
		want []string // bare addresses
	}{
		{[]string{"ada@example.com"}, []string{"ada@example.com"}},
		{[]string{"Ada Lovelace <ada@example.com>"}, []string{"ada@example.com"}},
		{[]string{"ada@example.com, Bob <bob@example.org>"}, []string{"ada@example.com", "bob@example.org"}},
		{[]string{"ada@example.com", "", "  ", "bob@example.org"}, []string{"ada@example.com", "bob@example.org"}},
		{[]string{"=?utf-8?q?Zo=C3=AB?= <zoe@example.com>"}, []string{"zoe@example.com"}},
		{[]string{"zoë@bücher.example"}, []string{"zoë@xn--bcher-kva.example"}},
		{[]string{"ops@[127.0.0.1]"}, []string{"ops@[127.0.0.1]"}},
		{nil, nil},
	}
	for _, g := range good {
		got, err := parseAddresses("to", g.in)
		if err != nil {
			t.Errorf("%q: %v", g.in, err)
			continue
		}
		if b := bare(got); !slices.Equal(b, g.want) && !(len(b) == 0 && len(g.want) == 0) {
			t.Errorf("%q: got %q, want %q", g.in, b, g.want)
		}
	}
	bad := []struct {
		in   string
		want string
	}{
		{"not-an-address", "to: \"not-an-address\" is not a valid email address"},
		{"ada@", "not a valid email address"},
		{"ada@example.com\r\nBcc: victim@example.com", "line break (header injection refused)"},
		{"ada@exa_mple.com", "not a valid host name"},
		{"ada@-example.com", "not a valid host name"},
		{strings.Repeat("a", 65) + "@example.com", "at most 64"},
		{"ops@[not-an-ip]", "not a valid email address"},
	}
	for _, b := range bad {
		_, err := parseAddresses("to", []string{b.in})
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: error %v, want one saying %q", b.in, err, b.want)
		}
	}
}

// resolveLikeHost renders every string of a `with:` against fields, as the
// host does before Process: a rendered value goes in as a JSON string.
func resolveLikeHost(t *testing.T, with string, fields map[string]any) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(with), &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case string:
			tpl, err := tags.Parse(x)
			if err != nil {
				t.Fatal(err)
			}
			out, err := tpl.Render(tags.Scope{Fields: fields})
			if err != nil {
				t.Fatal(err)
			}
			return out
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = walk(x[k])
			}
		}
		return v
	}
	out, err := json.Marshal(walk(v))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// A value a tag inserts from an item is one address: a field holding a
// list, a second header or a display name with a comma must never add
// recipients the workflow did not name.
func TestTagValueIsOneAddress(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		with   string // without subject
		fields map[string]any
		to, cc []string // formatted recipients sent to; nil with want
		from   string
		want   string // error text
	}{
		{name: "one field one address", with: `{"to": "{{Email}}"}`, fields: map[string]any{"Email": "f@example.com"},
			to: []string{"<f@example.com>"}},
		{name: "field with a comma list", with: `{"to": "{{Email}}"}`, fields: map[string]any{"Email": "f@example.com, g@example.com"},
			want: `to: {{Email}} gives "f@example.com, g@example.com" for this item: 2 addresses where one is expected`},
		{name: "field with a semicolon list", with: `{"to": "{{Email}}"}`, fields: map[string]any{"Email": "f@example.com; g@example.com"},
			want: `to: {{Email}} gives "f@example.com; g@example.com" for this item, which is not one valid email address`},
		{name: "field with a named list", with: `{"cc": ["boss@example.com", "{{Email}}"]}`, fields: map[string]any{"Email": `"F" <f@example.com>, g@example.com`},
			want: `cc: {{Email}} gives`},
		{name: "field with a header", with: `{"to": "{{Email}}"}`, fields: map[string]any{"Email": "f@example.com\r\nBcc: victim@example.com"},
			want: "to: {{Email}} gives a value with a line break (header injection refused)"},
		{name: "field with a bare LF", with: `{"to": "{{Name}} <{{Email}}>"}`, fields: map[string]any{"Name": "F\nBcc: victim@example.com", "Email": "f@example.com"},
			want: "line break (header injection refused)"},
		{name: "literal list and a field", with: `{"to": "boss@example.com, {{Email}}"}`, fields: map[string]any{"Email": "f@example.com"},
			to: []string{"<boss@example.com>", "<f@example.com>"}},
		{name: "literal list and a field holding a list", with: `{"to": "boss@example.com, {{Email}}"}`, fields: map[string]any{"Email": "f@example.com,g@example.com"},
			want: "2 addresses where one is expected"},
		{name: "YAML list of literals and a field", with: `{"to": ["a@example.com, b@example.com", "{{Email}}"]}`, fields: map[string]any{"Email": "f@example.com"},
			to: []string{"<a@example.com>", "<b@example.com>", "<f@example.com>"}},
		{name: "name with a comma", with: `{"to": "{{Name}} <{{Email}}>"}`, fields: map[string]any{"Name": "Lovelace, Ada", "Email": "ada@example.com"},
			to: []string{`"Lovelace, Ada" <ada@example.com>`}},
		{name: "name holding an address", with: `{"to": "{{Name}} <{{Email}}>"}`, fields: map[string]any{"Name": "Eve <eve@example.com>, x", "Email": "ada@example.com"},
			to: []string{`"Eve <eve@example.com>, x" <ada@example.com>`}},
		{name: "address part holding two", with: `{"to": "Ada <{{Email}}>"}`, fields: map[string]any{"Email": "ada@example.com>, <eve@example.com"},
			want: "to: Ada <{{Email}}> gives"},
		{name: "value with its own name", with: `{"to": "{{Email}}"}`, fields: map[string]any{"Email": "Ada Lovelace <ada@example.com>"},
			to: []string{`"Ada Lovelace" <ada@example.com>`}},
		{name: "empty cc field", with: `{"to": "a@example.com", "cc": ["{{Cc}}"]}`, fields: map[string]any{"Cc": ""},
			to: []string{"<a@example.com>"}},
		{name: "opt-in list field", with: `{"to": {"list": "{{Emails}}"}}`, fields: map[string]any{"Emails": "f@example.com, g@example.com"},
			to: []string{"<f@example.com>", "<g@example.com>"}},
		{name: "opt-in list next to one address", with: `{"to": "a@example.com", "cc": ["{{Boss}}", {"list": "{{Team}}"}]}`,
			fields: map[string]any{"Boss": "b@example.com", "Team": "t1@example.com, t2@example.com"},
			to:     []string{"<a@example.com>"}, cc: []string{"<b@example.com>", "<t1@example.com>", "<t2@example.com>"}},
		{name: "opt-in list with a header", with: `{"to": {"list": "{{Emails}}"}}`, fields: map[string]any{"Emails": "f@example.com\nBcc: victim@example.com"},
			want: "line break (header injection refused)"},
		{name: "from field holding a list", with: `{"to": "a@example.com", "from": "{{Sender}}"}`, fields: map[string]any{"Sender": "s@example.com, t@example.com"},
			want: "from: {{Sender}} gives"},
		{name: "from field", with: `{"to": "a@example.com", "from": "Billing <{{Sender}}>"}`, fields: map[string]any{"Sender": "s@example.com"},
			to: []string{"<a@example.com>"}, from: `"Billing" <s@example.com>`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			with := strings.TrimSuffix(c.with, "}") + `, "subject": "s", "text": "t"}`
			if !strings.Contains(c.with, `"to"`) {
				with = `{"to": "a@example.com", ` + strings.TrimPrefix(with, "{")
			}
			h := &fakeHost{}
			b := configure(t, with, h)
			res := b.Process(context.Background(), []sdk.Item{item(t, "1", c.fields, nil, resolveLikeHost(t, with, c.fields))})[0]
			if c.want != "" {
				if res.Err == nil || !strings.Contains(res.Err.Error(), c.want) {
					t.Fatalf("error %v, want one saying %q", res.Err, c.want)
				}
				if !strings.Contains(res.Err.Error(), "email") {
					t.Errorf("error %q does not name the block", res.Err)
				}
				if len(h.sent) != 0 {
					t.Errorf("sent %+v", h.sent)
				}
				return
			}
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if len(h.sent) != 1 {
				t.Fatalf("%d sent", len(h.sent))
			}
			m := h.sent[0]
			if !slices.Equal(m.To, c.to) || !slices.Equal(m.Cc, c.cc) || len(m.Bcc) != 0 {
				t.Errorf("to %q cc %q bcc %q, want to %q cc %q", m.To, m.Cc, m.Bcc, c.to, c.cc)
			}
			if c.from != "" && m.From != c.from {
				t.Errorf("from %q, want %q", m.From, c.from)
			}
		})
	}
}

// A secret is set by the operator, like text written in the workflow, so
// it may hold a list; the block reads its value off the host's resolved
// configuration.
func TestSecretAddressesAreWritten(t *testing.T) {
	t.Parallel()
	h := &fakeHost{}
	const with = `{"to": "{{Email}}", "bcc": "{{ .secrets.AUDIT }}, {{Boss}}", "subject": "s"}`
	b := configure(t, with, h)
	fields := map[string]any{"Email": "f@example.com", "Boss": "b@example.com"}
	resolved := `{"to": "f@example.com", "bcc": "a1@example.com, a2@example.com, b@example.com", "subject": "s"}`
	res := b.Process(context.Background(), []sdk.Item{item(t, "1", fields, nil, resolved)})[0]
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if want := []string{"<a1@example.com>", "<a2@example.com>", "<b@example.com>"}; !slices.Equal(h.sent[0].Bcc, want) {
		t.Errorf("bcc %q, want %q", h.sent[0].Bcc, want)
	}
	fields["Boss"] = "b@example.com, c@example.com"
	resolved = `{"to": "f@example.com", "bcc": "a1@example.com, b@example.com, c@example.com", "subject": "s"}`
	res = b.Process(context.Background(), []sdk.Item{item(t, "2", fields, nil, resolved)})[0]
	if res.Err == nil || !strings.Contains(res.Err.Error(), "bcc: {{ .secrets.AUDIT }}, {{Boss}} gives") {
		t.Errorf("a field holding two addresses next to a secret: %v", res.Err)
	}
}
