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
		conformance.Case{Config: `{}`, Items: []map[string]any{{"Name": "Ada"}}},
	)
}
