package main

import (
	"testing"

	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/plugins/sdk/conformance"
)

// TestConformance runs the block binary through the host's conformance
// suite. Its items come without earlier blocks' documents, so each fails
// with a clear error (and none may crash the block).
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the block binary")
	}
	hosttest.Conformance(t, conformance.Build(t, "."),
		conformance.Case{Config: `{"documents": ["contract"], "recipients": [{"email": "{{Email}}", "name": "{{Name}}", "order": 1}, {"email": "hr@example.com", "order": 2}]}`},
		conformance.Case{Config: `{"documents": ["contract", "annex"], "recipients": [{"email": "ada@example.com"}], "subject": "Sign {{Name}}", "message": "Hi", "expires_in": "30d", "remind_every": "3d"}`},
	)
}
