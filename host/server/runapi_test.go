package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// postRun sends POST /api/runs to a host and decodes its answer.
func postRun(t *testing.T, addr string, body any) (int, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/runs", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST /api/runs %s: %s, body not JSON: %v", raw, resp.Status, err)
	}
	return resp.StatusCode, out
}

// TestRunAPIStartsDeployedWorkflow: POST /api/runs {"workflow": NAME}
// starts a workflow this host was not started with, deployed from a
// folder that is then deleted, at its current version or the one named;
// names and versions not deployed are 404 and paths stay refused.
func TestRunAPIStartsDeployedWorkflow(t *testing.T) {
	if err := deployBlocks(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := newDeployedHost(t, startSharedNATS(t))
	if err := h.srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.srv.Close() })
	v1 := deploySigning(t, h, "first", 2)
	v2 := deploySigning(t, h, "second", 3)

	for _, c := range []struct {
		body    map[string]string
		version string
		items   int64
	}{
		{map[string]string{"workflow": "signing"}, v2, 3},
		{map[string]string{"workflow": "signing", "version": v1[:8]}, v1, 2},
	} {
		status, out := postRun(t, h.srv.Addr(), c.body)
		id, _ := out["run_id"].(string)
		if status != http.StatusAccepted || id == "" {
			t.Fatalf("%v: %d %v", c.body, status, out)
		}
		sum, err := h.eng.Follow(ctx, id, nil)
		if err != nil || sum.Items != c.items || sum.Failed != 0 {
			t.Fatalf("%v: run %+v %v, want %d items", c.body, sum, err, c.items)
		}
		if rec, err := h.eng.RunRecord(ctx, id); err != nil || rec.Version != c.version {
			t.Fatalf("%v: run record %+v %v, want version %s", c.body, rec, err, c.version)
		}
	}

	outside := filepath.Join(t.TempDir(), "private.yaml")
	if err := os.WriteFile(outside, []byte("name: private\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, body := range []map[string]string{
		{"workflow": "nope"},
		{"workflow": "signing", "version": "0000000000000000"},
		{"workflow": "../signing"},
		{"file": outside},
	} {
		status, out := postRun(t, h.srv.Addr(), body)
		if status != http.StatusNotFound {
			t.Errorf("%v: %d %v, want 404", body, status, out)
		}
	}
	if status, out := postRun(t, h.srv.Addr(), map[string]string{"file": outside, "version": v1}); status != http.StatusBadRequest {
		t.Errorf("a version with a file: %d %v, want 400", status, out)
	}
}

// TestUploadRunsOnAVersionNotCurrent: a run on an uploaded file works on a
// version of its own; the workflow's current version stays, and nothing
// is written beside any workflow file.
func TestUploadRunsOnAVersionNotCurrent(t *testing.T) {
	if err := deployBlocks(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := newDeployedHost(t, startSharedNATS(t))
	if err := h.srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.srv.Close() })
	current := deploySigning(t, h, "Letter", 1)

	id, err := h.srv.StartUpload(ctx, "signing", "people.csv", []byte("Name,Email\nUpa,upa@example.com\nUpb,upb@example.com\n"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := h.eng.Follow(ctx, id, nil)
	if err != nil || sum.Items != 2 || sum.Failed != 0 {
		t.Fatalf("run on the upload: %+v %v", sum, err)
	}
	rec, err := h.eng.RunRecord(ctx, id)
	if err != nil || rec.Version == "" || rec.Version == current {
		t.Fatalf("run record %+v %v: want a version of its own, not %s", rec, err, current)
	}
	if cur, err := h.store.Current(ctx, "signing"); err != nil || cur.Version != current {
		t.Fatalf("current %+v %v, want %s still", cur, err, current)
	}
	if _, err := h.srv.StartUpload(ctx, "nope", "people.csv", []byte("Name,Email\n")); err == nil {
		t.Fatal("an upload to a workflow never deployed started")
	}
}

// TestDeletedWorkflowLeavesTheRunAPI: once a workflow serve was started
// with is deleted, the run API starts it neither by name nor by its file.
func TestDeletedWorkflowLeavesTheRunAPI(t *testing.T) {
	if err := deployBlocks(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := newDeployedHost(t, startSharedNATS(t))
	dir := t.TempDir()
	file := filepath.Join(dir, "hello.yaml")
	if err := os.WriteFile(file, []byte("name: hello\nsource: {uses: csv, with: {path: people.csv}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "people.csv"), []byte("Name\nAda\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.srv.cfg.Files = []string{file}
	if err := h.srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.srv.Close() })
	if status, out := postRun(t, h.srv.Addr(), map[string]string{"file": file}); status != http.StatusAccepted {
		t.Fatalf("before the delete: %d %v", status, out)
	}

	updates, err := h.store.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.Delete(ctx, "hello", "test"); err != nil {
		t.Fatal(err)
	}
	for u := range updates {
		if u.Name == "hello" && u.Version == "" {
			break
		}
	}
	// The host follows the same watch; its set changes right after.
	deadline := time.Now().Add(30 * time.Second)
	for len(h.srv.Workflows()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the host still serves %v after the delete", h.srv.Workflows())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, body := range []map[string]string{{"file": file}, {"workflow": "hello"}} {
		status, out := postRun(t, h.srv.Addr(), body)
		if status != http.StatusNotFound || !strings.Contains(out["error"].(string), "hello") {
			t.Errorf("%v after the delete: %d %v, want 404", body, status, out)
		}
	}
}
