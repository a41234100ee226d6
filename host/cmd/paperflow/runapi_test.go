package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestServeRunAPIRunsOnlyItsWorkflows starts serve with one workflow file
// and checks that /metrics shows its series from the start, and that the
// run API starts it by name, refuses files elsewhere without opening them,
// and answers a non-workflow file next to it with positions only.
func TestServeRunAPIRunsOnlyItsWorkflows(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	dir := writeFiles(t, map[string]string{
		"items.csv":    "Name\nA\n",
		"wf.yaml":      "name: served\nsource: {uses: csv, with: {path: items.csv}}\n",
		"secrets.yaml": "smtp_password: hunter2-secret\n",
	})
	addr, serr := serveEmbedded(t, data, "--api-token", "tok-123", filepath.Join(dir, "wf.yaml"))
	// Before anything ran, /metrics shows the version and the loaded
	// workflow's series.
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`paperflow_build_info{goversion="` + runtime.Version() + `",version="dev"} 1`, `paperflow_items_total{outcome="succeeded",workflow="served"} 0`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("/metrics at start has no %s", want)
		}
	}
	post := func(body string) (int, string) {
		t.Helper()
		return postJSON(t, "http://"+addr+"/api/runs", "tok-123", body)
	}
	file := func(p string) string { raw, _ := json.Marshal(map[string]string{"file": p}); return string(raw) }

	for _, f := range []string{"/etc/passwd", "/etc/shadow", filepath.Join(dir, "..", "serve.json")} {
		if code, body := post(file(f)); code != http.StatusNotFound || !strings.Contains(body, "unknown workflow") || strings.Contains(body, "root:") {
			t.Errorf("%s: %d %s, want 404 unknown workflow", f, code, body)
		}
	}
	code, body := post(file(filepath.Join(dir, "secrets.yaml")))
	if code != http.StatusUnprocessableEntity || strings.Contains(body, "hunter2") || strings.Contains(body, "smtp_password") || !strings.Contains(body, "secrets.yaml:1:1") {
		t.Errorf("non-workflow YAML: %d %s, want 422 with positions only", code, body)
	}
	if code, body := post(`{"workflow": "served"}`); code != http.StatusAccepted || !strings.Contains(body, "run_id") {
		t.Errorf("by name: %d %s\nserve: %s", code, body, serr.String())
	}
}
