package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/paperflow/paperflow/host/httpapi"
	"github.com/paperflow/paperflow/host/workflow"
)

// oneSource is a catalog with a single source block, "src".
type oneSource struct{}

func (oneSource) Lookup(uses string) (workflow.BlockSpec, bool) {
	return workflow.BlockSpec{Kind: workflow.KindSource}, uses == "src"
}
func (oneSource) Names() []string { return []string{"src"} }

// loadingStarter loads the file it is given the way the host does, and
// records the files it started.
type loadingStarter struct {
	mu      sync.Mutex
	started []string
}

func (s *loadingStarter) StartRun(_ context.Context, file, _ string) (string, error) {
	if _, problems := workflow.Load(file, oneSource{}); len(problems) > 0 {
		return "", problems
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = append(s.started, file)
	return "run-1", nil
}

func (s *loadingStarter) ListRuns(context.Context) (any, error) { return []string{}, nil }

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRunAPIStartsOnlyKnownWorkflows: a token holder may start the
// workflows serve was given, by path or by name, and nothing else; no
// answer quotes a file.
func TestRunAPIStartsOnlyKnownWorkflows(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "workflows")
	wf := filepath.Join(dir, "hello.yaml")
	write(t, wf, "name: hello\nsource: {uses: src}\n")
	write(t, filepath.Join(dir, "sub", "other.yml"), "name: other\nsource: {uses: src}\n")
	// Secrets next to the workflows: inside the allowed directory, not a workflow.
	write(t, filepath.Join(dir, "secrets.yaml"), "db_password: hunter2-secret\napi_key: sk-live-0123\n")
	write(t, filepath.Join(dir, "notes.txt"), "name: x\nsource: {uses: src}\n")
	outside := filepath.Join(root, "private.yaml")
	write(t, outside, "name: private\nsource: {uses: src}\nroot_password: outside-secret\n")
	if err := os.Symlink(outside, filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}

	starter := &loadingStarter{}
	wfs := &httpapi.Workflows{}
	if err := wfs.Add("hello", wf); err != nil {
		t.Fatal(err)
	}
	s := &httpapi.Server{Documents: http.NotFoundHandler(), Runs: starter, Workflows: wfs, Token: token, Log: slog.Default()}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	post := func(body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/api/runs", strings.NewReader(body))
		req.Header.Set("Authorization", bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	file := func(p string) string { raw, _ := json.Marshal(map[string]string{"file": p}); return string(raw) }

	refused := []struct {
		name, body string
	}{
		{"a system file", file("/etc/passwd")},
		{"a system YAML file", file("/etc/shadow")},
		{"a path out of the directory with ..", file(filepath.Join(dir, "..", "private.yaml"))},
		{"a symlink out of the directory", file(filepath.Join(dir, "link.yaml"))},
		{"a file that is not YAML or JSON", file(filepath.Join(dir, "notes.txt"))},
		{"a file that does not exist", file(filepath.Join(dir, "nosuch.yaml"))},
		{"the directory itself", file(dir)},
		{"an unknown name", `{"workflow": "private"}`},
	}
	for _, tc := range refused {
		code, body := post(tc.body)
		if code != http.StatusNotFound || !strings.Contains(body, "unknown workflow") || !strings.Contains(body, dir) {
			t.Errorf("%s: %d %s, want 404 unknown workflow naming %s", tc.name, code, body, dir)
		}
		for _, secret := range []string{"root:", "outside-secret", "private:"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s: the answer quotes the file: %s", tc.name, body)
			}
		}
	}

	// Inside the directory but not a workflow: refused by position only.
	code, body := post(file(filepath.Join(dir, "secrets.yaml")))
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "secrets.yaml:1:1") || !strings.Contains(body, "paperflow validate") {
		t.Errorf("non-workflow YAML: %d %s, want 422 with positions", code, body)
	}
	for _, secret := range []string{"hunter2", "sk-live", "db_password", "api_key"} {
		if strings.Contains(body, secret) {
			t.Errorf("non-workflow YAML: the answer quotes the file (%q): %s", secret, body)
		}
	}

	for _, tc := range []struct{ name, body string }{
		{"the file serve was given", file(wf)},
		{"a workflow under its directory", file(filepath.Join(dir, "sub", "..", "sub", "other.yml"))},
		{"a workflow by name", `{"workflow": "hello"}`},
	} {
		if code, body := post(tc.body); code != http.StatusAccepted || !strings.Contains(body, "run-1") {
			t.Errorf("%s: %d %s, want 202", tc.name, code, body)
		}
	}
	if code, body := post(`{"file": "x.yaml", "workflow": "hello"}`); code != http.StatusBadRequest {
		t.Errorf("file and workflow: %d %s, want 400", code, body)
	}

	// Nothing outside the directory reached the loader.
	starter.mu.Lock()
	defer starter.mu.Unlock()
	for _, f := range starter.started {
		if !strings.HasPrefix(f, dir) && !strings.HasPrefix(f, resolved(t, dir)) {
			t.Errorf("started %s, outside %s", f, dir)
		}
	}
}

func resolved(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRunAPIWithoutWorkflows: a server given no workflow files starts none.
func TestRunAPIWithoutWorkflows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wf := filepath.Join(dir, "hello.yaml")
	write(t, wf, "name: hello\nsource: {uses: src}\n")
	s := &httpapi.Server{Documents: http.NotFoundHandler(), Runs: &loadingStarter{}, Token: token, Log: slog.Default()}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest("POST", srv.URL+"/api/runs", strings.NewReader(`{"file": "`+wf+`"}`))
	req.Header.Set("Authorization", bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		raw, _ := io.ReadAll(resp.Body)
		t.Errorf("%d %s, want 404", resp.StatusCode, raw)
	}
}
