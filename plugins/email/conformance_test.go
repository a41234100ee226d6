package main

import (
	"testing"

	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/plugins/sdk/conformance"
)

func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the block binary")
	}
	hosttest.Conformance(t, conformance.Build(t, "."),
		conformance.Case{
			Config: `{"to": "ada@example.com", "subject": "Hello", "text": "Hi there"}`,
			Items:  []map[string]any{{"Name": "Ada"}},
		},
		conformance.Case{
			Config: `{"to": ["ada@example.com", "Bob <bob@example.org>"], "bcc": "archive@example.com", "subject": "Hello",
				"text": "Hi", "html_template": "testdata/welcome.html",
				"when": {"all": [{"field": "Send", "op": "equals", "value": "yes"}]}}`,
			Items: []map[string]any{{"Name": "Ada <b>", "Send": "yes"}, {"Name": "Bob", "Send": "no"}},
		},
	)
}
