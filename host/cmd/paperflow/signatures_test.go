package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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
		"wf.yaml": signingWorkflow("cancelling", `[{email: "{{Email}}", name: "{{Name}}"}]`) + `  - id: hook
    uses: webhook
    with: {url: "` + hook.URL + `", allow_private: true, events: [SIGNATURES_CANCELLED], retry: [10ms]}
`,
	})
	addr, serr := serveEmbedded(t, data, filepath.Join(dir, "wf.yaml"))
	if r := paperflow(t, data, "run", filepath.Join(dir, "wf.yaml")); r.code != 0 {
		t.Fatalf("run: %d %s %s\nserve: %s", r.code, r.stdout, r.stderr, serr.String())
	}
	r := paperflow(t, data, "signatures", "links")
	path := regexp.MustCompile(`/blocks/cancelling/sign/sign/[A-Za-z0-9_-]{43}`).FindString(r.stdout)
	if path == "" {
		t.Fatalf("links: %s %s", r.stdout, r.stderr)
	}
	link := "http://" + addr + path
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

// TestSignaturesFiltersAndLinkOrder: `signatures list --run` and `links
// --run` refuse a run that is not kept, naming it; a kept run or an item
// without requests gets a one-line note and exit 0 (-o json prints []);
// `signatures links` prints its rows by item, 2 before 10, and an item's
// recipients in signing order whatever the order they are written in.
func TestSignaturesFiltersAndLinkOrder(t *testing.T) {
	t.Parallel()
	const items = 11
	data := t.TempDir()
	var csv strings.Builder
	csv.WriteString("Name,Email\n")
	for i := 1; i <= items; i++ {
		fmt.Fprintf(&csv, "P%d,p%d@example.com\n", i, i)
	}
	dir := writeFiles(t, map[string]string{
		"items.csv":    csv.String(),
		"letter.md":    "# Agreement for {{Name}}\n",
		"signing.yaml": signingWorkflow("ordered", `[{email: boss@example.com, order: 2}, {email: "{{Email}}", name: "{{Name}}", order: 1}]`),
		"plain.yaml":   "name: plain\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: a, uses: noop}\n",
	})
	run := func(file string) string {
		t.Helper()
		r := paperflow(t, data, "--batch", "3", "run", filepath.Join(dir, file), "-o", "json")
		var sum struct {
			RunID string `json:"run_id"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &sum); r.code != 0 || err != nil || sum.RunID == "" {
			t.Fatalf("run %s: %d %v %s %s", file, r.code, err, r.stdout, r.stderr)
		}
		return sum.RunID
	}
	signing, plain := run("signing.yaml"), run("plain.yaml")

	for _, args := range [][]string{{"list", "--run", "20200101-000000-nosuch00"}, {"links", "--run", "20200101-000000-nosuch00"}} {
		r := paperflow(t, data, append([]string{"signatures"}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "run 20200101-000000-nosuch00 not found (list runs with `paperflow runs`") || r.stdout != "" {
			t.Errorf("signatures %s: exit %d, %q %q, want the run named as not found", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "--run", plain}, "no signature requests for run " + plain + "\n"},
		{[]string{"list", "--item", "999"}, "no signature requests for item 999\n"},
		{[]string{"list", "--run", signing, "--item", "999"}, "no signature requests for item 999 of run " + signing + "\n"},
		{[]string{"list", "--run", plain, "-o", "json"}, "[]\n"},
		{[]string{"links", "--run", plain}, "no signing links for run " + plain + "\n"},
	} {
		if r := paperflow(t, data, append([]string{"signatures"}, c.args...)...); r.code != 0 || r.stdout != c.want {
			t.Errorf("signatures %s: exit %d, %q %s, want %q", strings.Join(c.args, " "), r.code, r.stdout, r.stderr, c.want)
		}
	}
	if r := paperflow(t, data, "signatures", "list", "--run", signing); r.code != 0 || strings.Count(r.stdout, "ordered/sign") != items {
		t.Errorf("list --run %s: exit %d, want %d requests:\n%s%s", signing, r.code, items, r.stdout, r.stderr)
	}

	r := paperflow(t, data, "signatures", "links")
	var got, want []string
	for _, m := range regexp.MustCompile(`(?m)^(\S+)\s+(\S+)\s+(\d+)\s+(\S+)\s+http\S+/blocks/ordered/sign/sign/`).FindAllStringSubmatch(r.stdout, -1) {
		if m[1] != signing {
			t.Errorf("links: a row of run %s, want only the newest run with links, %s", m[1], signing)
		}
		got = append(got, m[2]+" "+m[3]+" "+m[4])
	}
	for i := 1; i <= items; i++ {
		want = append(want, fmt.Sprintf("%d 1 p%d@example.com", i, i), fmt.Sprintf("%d 2 boss@example.com", i))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("links rows (item, order, email):\n%s\nwant:\n%s\noutput:\n%s%s", strings.Join(got, "\n"), strings.Join(want, "\n"), r.stdout, r.stderr)
	}
}

// signingWorkflow is the workflow name that makes a letter from
// letter.md for each row of items.csv and asks recipients (a YAML list)
// to sign it, in block sign; more blocks may follow it.
func signingWorkflow(name, recipients string) string {
	return "name: " + name + `
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: letter, uses: template, with: {template: letter.md}}
  - id: sign
    uses: signature
    with:
      documents: [letter]
      recipients: ` + recipients + "\n"
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
