package main

import (
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk/conformance"
)

// TestConformance runs the example block's binary through the real plugin
// boundary against the SDK's in-memory host, as every third-party block
// should.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the block binary")
	}
	conformance.Run(t, conformance.Build(t, "."),
		conformance.Case{
			Config: `{"fields": {"Greeting": "Hello"}, "slug": ["Company"]}`,
			Items:  []map[string]any{{"First Name": "Zoë", "Company": "Nordic Optics AB"}},
		},
	)
}
