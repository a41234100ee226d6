package main_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateResolvesSinkSecrets: validate resolves a sink's secrets as
// serve does, so the README's webhook example passes with its secrets
// set, and an unset one is reported by name.
func TestValidateResolvesSinkSecrets(t *testing.T) {
	t.Setenv("PAPERFLOW_SECRET_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	t.Setenv("PAPERFLOW_SECRET_HOOK_URL", "https://example.com/hooks/paperflow")
	t.Setenv("PAPERFLOW_SECRET_HOOK_TOKEN", "tok_3f9a7c1e5b2d4f60a8")
	const example = `name: readme
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: notify
    uses: webhook
    with:
      url: "{{ .secrets.HOOK_URL }}"
      secret: "{{ .secrets.WEBHOOK_SECRET }}"    # or secrets: [new, old] during rotation
      events: [DOCUMENTS_CREATED, EMAILS_CREATED] # default: all four
      condition: {all: ['.data.documents | length > 0']}   # jq over the envelope
      headers: {X-Team: billing, Authorization: "Bearer {{ .secrets.HOOK_TOKEN }}"}
      timeout: 10s
      retry: [1m, 5m, 30m, 2h, 12h]              # the default; then the dead-letter stream
`
	dir := writeFiles(t, map[string]string{
		"items.csv":   "Name\nA\n",
		"readme.yaml": example,
		"unset.yaml":  strings.Replace(example, "HOOK_TOKEN", "NOT_SET_ANYWHERE", 1),
	})
	r := paperflow(t, t.TempDir(), "validate", filepath.Join(dir, "readme.yaml"))
	if r.code != 0 || !strings.Contains(r.stdout, "readme.yaml: ok") {
		t.Fatalf("exit %d, output:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = paperflow(t, t.TempDir(), "validate", filepath.Join(dir, "unset.yaml"))
	if r.code != 1 || !strings.Contains(r.stdout, `"NOT_SET_ANYWHERE" is not set`) {
		t.Fatalf("exit %d, output:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, secret := range []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "tok_3f9a7c1e5b2d4f60a8", "example.com/hooks"} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("validate printed a secret value")
		}
	}
}
