package main_test

import (
	"strings"
	"testing"
)

// TestOutputOfRunAndBackup: run, backup and restore take -o text or json
// only, refused when the flag is parsed, before a workflow file or a
// backup is read.
func TestOutputOfRunAndBackup(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"run", "nosuch.yaml", "-o", "yaml"},
		{"run", "nosuch.yaml", "--output", "xml"},
		{"backup", "nosuch-dir", "-o", "yaml"},
		{"restore", "nosuch-dir", "--output", "yaml"},
	} {
		r := paperflow(t, t.TempDir(), args...)
		if r.code == 0 || !strings.Contains(r.stderr, `for "-o, --output" flag: use text or json`) || strings.Contains(r.stderr, "nosuch") {
			t.Errorf("%s: exit %d, %s, want the format refused before anything is read", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}
