package main_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestWorkflowsHistoryMarksOneCurrent: after a deploy, a delete and a
// rollback to the same version, `workflows history` marks only the
// rollback current, not the deploy that first made the version.
func TestWorkflowsHistoryMarksOneCurrent(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	dir := writeFiles(t, map[string]string{
		"items.csv": "Name\nAda\n",
		"wf.yaml":   "name: kept\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: pass, uses: noop}\n",
	})
	must := func(want string, args ...string) string {
		t.Helper()
		r := paperflow(t, data, args...)
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("paperflow %s: exit %d, want %q in\n%s%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
		}
		return r.stdout
	}
	out := must("kept: deployed version ", "deploy", filepath.Join(dir, "wf.yaml"))
	version := regexp.MustCompile(`version ([0-9a-f]+)`).FindStringSubmatch(out)[1]
	must("kept: deleted", "workflows", "delete", "kept")
	must("kept: rolled back to version "+version+" (was none: it was deleted)", "workflows", "rollback", "kept")
	hist := strings.Split(strings.TrimSpace(must("rollback", "workflows", "history", "kept")), "\n")
	if len(hist) != 4 || strings.Count(strings.Join(hist, "\n"), "(current)") != 1 || !strings.HasSuffix(hist[3], "(current)") || !strings.Contains(hist[3], "rollback") {
		t.Errorf("history, want only the rollback marked current:\n%s", strings.Join(hist, "\n"))
	}
}
