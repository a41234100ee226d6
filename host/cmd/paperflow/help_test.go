package main_test

import (
	"strings"
	"testing"
)

// TestValidateHelpExamples: validate's --help shows it on one file and on
// a glob.
func TestValidateHelpExamples(t *testing.T) {
	t.Parallel()
	r := paperflow(t, t.TempDir(), "validate", "--help")
	_, examples, ok := strings.Cut(r.stdout, "Examples:\n")
	if r.code != 0 || !ok {
		t.Fatalf("validate --help: exit %d, no examples:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"paperflow validate workflows/invoices.yaml\n", "paperflow validate workflows/*.yaml\n"} {
		if !strings.Contains(examples, want) {
			t.Errorf("validate --help examples lack %q:\n%s", want, examples)
		}
	}
}
