package main_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/paperflow/paperflow/host/events"
)

// TestSignaturesCancel: `paperflow signatures cancel` ends a request a
// running serve handed out: the signer's link then shows the cancelled
// page, the SIGNATURES_CANCELLED event (valid by its schema) reaches the
// webhook that lists it, `signatures list --item` shows how it ended, and
// a second cancel is refused.
func TestSignaturesCancel(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got [][]byte
	arrived := make(chan struct{}, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, body)
		mu.Unlock()
		arrived <- struct{}{}
	}))
	t.Cleanup(hook.Close)

	data := t.TempDir()
	dir := writeFiles(t, map[string]string{
		"items.csv": "Name,Email\nAda,ada@example.com\n",
		"letter.md": "# Agreement for {{Name}}\n",
		"wf.yaml": `name: cancelling
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: letter, uses: template, with: {template: letter.md}}
  - id: sign
    uses: signature
    with:
      documents: [letter]
      recipients: [{email: "{{Email}}", name: "{{Name}}"}]
  - id: hook
    uses: webhook
    with: {url: "` + hook.URL + `", allow_private: true, events: [SIGNATURES_CANCELLED], retry: [10ms]}
`,
	})
	cmd := exec.Command(filepath.Join(binDir, "paperflow"), "--data-dir", data, "--http", "127.0.0.1:0", "serve", filepath.Join(dir, "wf.yaml"))
	cmd.Env = append(os.Environ(), "PAPERFLOW_NATS_URL=")
	var serr bytes.Buffer
	cmd.Stderr = &serr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(data, "serve.json")); return err == nil })
	if r := paperflow(t, data, "run", filepath.Join(dir, "wf.yaml")); r.code != 0 {
		t.Fatalf("run: %d %s %s\nserve: %s", r.code, r.stdout, r.stderr, serr.String())
	}
	var st struct {
		HTTP string `json:"http"`
	}
	raw, err := os.ReadFile(filepath.Join(data, "serve.json"))
	if err != nil || json.Unmarshal(raw, &st) != nil {
		t.Fatalf("serve.json: %v %s", err, raw)
	}
	r := paperflow(t, data, "signatures", "links")
	path := regexp.MustCompile(`/blocks/cancelling/sign/sign/[A-Za-z0-9_-]{43}`).FindString(r.stdout)
	if path == "" {
		t.Fatalf("links: %s %s", r.stdout, r.stderr)
	}
	link := "http://" + st.HTTP + path
	if code, page := get(t, link); code != http.StatusOK {
		t.Fatalf("signing page before the cancel: %d %s", code, page)
	}

	r = paperflow(t, data, "signatures", "list", "--json")
	var reqs []struct {
		ID     string `json:"id"`
		ItemID string `json:"item_id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &reqs); err != nil || len(reqs) != 1 {
		t.Fatalf("list: %v %s %s", err, r.stdout, r.stderr)
	}
	id := reqs[0].ID
	if r := paperflow(t, data, "signatures", "cancel", id, "--reason", "Sent to the wrong person"); r.code != 0 || !strings.Contains(r.stdout, "cancelled request "+id+" of workflow cancelling") {
		t.Fatalf("cancel: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if code, page := get(t, link); code != http.StatusGone || !strings.Contains(page, "This request was cancelled") || !strings.Contains(page, "Sent to the wrong person") {
		t.Errorf("signing page after the cancel: %d %s", code, page)
	}

	<-arrived
	mu.Lock()
	body := got[0]
	mu.Unlock()
	v, err := events.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(body); err != nil {
		t.Errorf("delivered event does not validate: %v\n%s", err, body)
	}
	var ev struct {
		EventType string `json:"eventType"`
		Data      struct {
			RequestID  string `json:"request_id"`
			Reason     string `json:"reason"`
			Recipients []struct {
				Email, Status string
			} `json:"recipients"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.EventType != "SIGNATURES_CANCELLED" || ev.Data.RequestID != id ||
		ev.Data.Reason != "Sent to the wrong person" || len(ev.Data.Recipients) != 1 || ev.Data.Recipients[0].Status != "PENDING" {
		t.Errorf("delivered: %v %s", err, body)
	}

	r = paperflow(t, data, "signatures", "list", "--item", reqs[0].ItemID, "--json")
	var after []struct {
		Status       string `json:"status"`
		CancelledAt  string `json:"cancelled_at"`
		CancelReason string `json:"cancel_reason"`
		Recipients   []struct {
			Email    string `json:"email"`
			Status   string `json:"status"`
			ViewedAt string `json:"viewed_at"`
		} `json:"recipients"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &after); err != nil || len(after) != 1 || after[0].Status != "cancelled" || after[0].CancelledAt == "" ||
		after[0].CancelReason != "Sent to the wrong person" || after[0].Recipients[0].ViewedAt == "" {
		t.Errorf("list --item after the cancel: %v %s %s", err, r.stdout, r.stderr)
	}
	if r := paperflow(t, data, "signatures", "list", "--item", "no-such-item", "--json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("list of an unknown item: %s %s", r.stdout, r.stderr)
	}
	if r := paperflow(t, data, "signatures", "cancel", id); r.code == 0 || !strings.Contains(r.stderr, "request "+id+" is cancelled already") {
		t.Errorf("second cancel: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := paperflow(t, data, "signatures", "cancel", "nope"); r.code == 0 || !strings.Contains(r.stderr, "no signature request nope") {
		t.Errorf("cancel of an unknown request: %d %s %s", r.code, r.stdout, r.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, b := range got {
		if !strings.Contains(string(b), `"eventType":"SIGNATURES_CANCELLED"`) {
			t.Errorf("the webhook got an event it does not list: %s", b)
		}
	}
}

// get fetches u and returns the status and body.
func get(t *testing.T, u string) (int, string) {
	t.Helper()
	if _, err := url.Parse(u); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
