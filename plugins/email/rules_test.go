package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

func rule(field, op string, value any) ruleConfig {
	r := ruleConfig{Field: field, Op: op}
	if value != nil {
		r.Value, _ = json.Marshal(value)
	}
	return r
}

func TestSendRules(t *testing.T) {
	t.Parallel()
	fields := map[string]any{
		"Country": "DE", "Email": "ada@example.com", "Note": "  ", "Amount": json.Number("1250.00"),
		"Company": "Analytical Engines Ltd", "customer": map[string]any{"tier": "Gold"},
	}
	blocks := map[string]any{"check": map[string]any{"status": "ok"}}
	cases := []struct {
		name  string
		when  when
		want  bool
		why   string // part of the reason when want is false
		value []string
	}{
		{name: "equals", when: when{All: []ruleConfig{rule("Country", "equals", "DE")}}, want: true},
		{name: "equals ignores case and spaces", when: when{All: []ruleConfig{rule("country", "equals", " de ")}}, want: true},
		{name: "equals numbers as numbers", when: when{All: []ruleConfig{rule("Amount", "equals", 1250)}}, want: true},
		{name: "equals fails", when: when{All: []ruleConfig{rule("Country", "equals", "FR")}}, why: `Country equals "FR" (it is "DE")`},
		{name: "not_equals", when: when{All: []ruleConfig{rule("Country", "not_equals", "FR")}}, want: true},
		{name: "contains", when: when{All: []ruleConfig{rule("Company", "contains", "engines")}}, want: true},
		{name: "not_contains", when: when{All: []ruleConfig{rule("Company", "not_contains", "engines")}}, why: "not_contains"},
		{name: "is_empty on blanks", when: when{All: []ruleConfig{rule("Note", "is_empty", nil)}}, want: true},
		{name: "is_empty on a missing field", when: when{All: []ruleConfig{rule("Nope", "is_empty", nil)}}, want: true},
		{name: "is_not_empty", when: when{All: []ruleConfig{rule("Email", "is_not_empty", nil)}}, want: true},
		{name: "is_not_empty fails", when: when{All: []ruleConfig{rule("Note", "is_not_empty", nil)}}, why: "Note is_not_empty"},
		{name: "dotted path", when: when{All: []ruleConfig{rule("customer.tier", "equals", "gold")}}, want: true},
		{name: "earlier block", when: when{All: []ruleConfig{rule("blocks.check.status", "equals", "ok")}}, want: true},
		{name: "all: one fails", when: when{All: []ruleConfig{rule("Country", "equals", "DE"), rule("Email", "is_empty", nil)}}, why: "Email is_empty"},
		{name: "any: one holds", when: when{Any: []ruleConfig{rule("Country", "equals", "FR"), rule("Email", "is_not_empty", nil)}}, want: true},
		{name: "any: none holds", when: when{Any: []ruleConfig{rule("Country", "equals", "FR"), rule("Country", "equals", "IT")}}, why: "no send rule met"},
		{name: "value resolved per item", when: when{All: []ruleConfig{rule("Country", "equals", "{{Home}}")}}, value: []string{"de"}, want: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := compileRules(&c.when)
			if err != nil {
				t.Fatal(err)
			}
			values := c.value
			if values == nil {
				values = ruleValues(&c.when)
			}
			ok, why, err := rs.match(tags.Scope{Fields: fields, Blocks: blocks}, values)
			if err != nil {
				t.Fatal(err)
			}
			if ok != c.want {
				t.Fatalf("match = %v (%s), want %v", ok, why, c.want)
			}
			if !ok && !strings.Contains(why, c.why) {
				t.Errorf("reason %q does not say %q", why, c.why)
			}
		})
	}
}

func TestSendRulesRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		when when
		want string
	}{
		{when{}, "at least one rule"},
		{when{All: []ruleConfig{rule("A", "equals", "x")}, Any: []ruleConfig{rule("B", "equals", "y")}}, "not both"},
		{when{All: []ruleConfig{rule("{{Country}}", "equals", "DE")}}, "when.all[0].field"},
		{when{Any: []ruleConfig{rule("Country", "equals", nil)}}, "when.any[0]: op equals needs a value"},
		{when{All: []ruleConfig{rule("Country", "matches", "D.")}}, `op "matches"`},
		{when{All: []ruleConfig{rule(" ", "is_empty", nil)}}, "field is empty"},
	} {
		if _, err := compileRules(&c.when); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", c.when, err, c.want)
		}
	}
}
