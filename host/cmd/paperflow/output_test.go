package main_test

import (
	"strings"
	"testing"
)

// TestOutputFormats: every listing prints an empty JSON list, not null,
// when there is nothing to list, and -o takes text or json only, refused
// before the command opens anything.
func TestOutputFormats(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	for _, args := range [][]string{
		{"runs"},
		{"workflows", "list"},
		{"webhooks", "list"},
		{"webhooks", "deliveries"},
		{"webhooks", "dead-letters"},
	} {
		name := strings.Join(args, " ")
		if r := paperflow(t, data, append(args, "-o", "json")...); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
			t.Errorf("%s -o json with nothing to list: exit %d, %q %s, want []", name, r.code, r.stdout, r.stderr)
		}
		if r := paperflow(t, data, append(args, "-o", "yaml")...); r.code == 0 || !strings.Contains(r.stderr, `invalid argument "yaml" for "-o, --output" flag: use text or json`) {
			t.Errorf("%s -o yaml: exit %d, %s, want it refused", name, r.code, r.stderr)
		}
	}
	if r := paperflow(t, data, "deploy", "nosuch.yaml", "-o", "yaml"); r.code == 0 || !strings.Contains(r.stderr, "use text or json") {
		t.Errorf("deploy -o yaml: exit %d, %s", r.code, r.stderr)
	}
}
