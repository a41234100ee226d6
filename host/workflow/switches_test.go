package workflow

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

func loadText(t *testing.T, src string) (*Workflow, Problems) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "items.csv"), []byte("Name\nA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "wf.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(file, catalog)
}

// TestEnabledSwitch: enabled: false turns a step into one that runs for no
// item and marks a sink disabled; backfill is a sink's, and both are
// booleans.
func TestEnabledSwitch(t *testing.T) {
	w, probs := loadText(t, `name: sw
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: mail, uses: email, enabled: false, if: "{{Name}}", with: {to: "{{Name}}"}}
  - {id: on, uses: email, enabled: true, with: {to: x}}
  - {id: hook, uses: webhook, enabled: false, backfill: false, with: {url: "https://example.com"}}
`)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	scope := tags.Scope{Fields: map[string]any{"Name": "Ada"}}
	if b := w.Block("mail"); !b.Disabled || b.If != "false" || mustRun(t, b, scope) {
		t.Errorf("disabled step: %+v", b)
	}
	if b := w.Block("on"); b.Disabled || !mustRun(t, b, scope) {
		t.Errorf("enabled step: %+v", b)
	}
	if b := w.Block("hook"); !b.Disabled || !b.NoBackfill || b.If != "" {
		t.Errorf("disabled sink: %+v", b)
	}

	_, probs = loadText(t, `name: sw
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: mail, uses: email, backfill: false, with: {to: x}}
  - {id: hook, uses: webhook, enabled: "no", with: {url: "https://example.com"}}
  - {id: hook2, uses: webhook, if: "{{blocks.mail.sent}}", with: {url: "https://example.com"}}
`)
	text := probs.Error()
	for _, want := range []string{`wf.yaml:4:`, `backfill: only a sink holds events`, `wf.yaml:5:`, `enabled`, `wf.yaml:6:`, `a sink's if: is rendered against each event`} {
		if !strings.Contains(text, want) {
			t.Errorf("problems do not mention %q:\n%s", want, text)
		}
	}
}

func mustRun(t *testing.T, b *Block, s tags.Scope) bool {
	t.Helper()
	ok, err := b.Runs(s)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}
