package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/signature/requests"
)

// apiCall calls the block's route as the host does, marked as its own
// call when internal is set.
func (f *fixture) apiCall(method, target, body string, internal bool) (int, string) {
	f.t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if internal {
		r = sdk.WithHostCall(r)
	}
	w := httptest.NewRecorder()
	f.block.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// TestAPIListsAndResends: the host-only routes list the requests with
// their recipients and queue a resend callback for a recipient.
func TestAPIListsAndResends(t *testing.T) {
	t.Parallel()
	f := newFixture(t, twoSigners)
	res := f.process(f.item("1", map[string]any{"Email": "ada@example.com"}, resolved), f.item("2", map[string]any{"Email": "bob@example.com"}, resolved))
	id := res[0].Outputs["request_id"].(string)

	code, body := f.apiCall(http.MethodGet, "/api/requests", "", true)
	var reqs []requests.Request
	if err := json.Unmarshal([]byte(body), &reqs); code != http.StatusOK || err != nil || len(reqs) != 2 {
		t.Fatalf("list: %d %v %s", code, err, body)
	}
	for _, r := range reqs {
		if r.Workflow != "hiring" || r.Block != "sign" || r.Status != statusPending || len(r.Recipients) != 2 || r.Recipients[0].Status != recipientPending {
			t.Errorf("request: %+v", r)
		}
	}
	if code, body := f.apiCall(http.MethodGet, "/api/requests?run=other", "", true); code != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Errorf("list of another run: %d %s", code, body)
	}

	code, body = f.apiCall(http.MethodPost, "/api/requests/"+id+"/resend", `{"email": "ADA@example.com"}`, true)
	if code != http.StatusAccepted || !strings.Contains(body, `"workflow":"hiring"`) {
		t.Fatalf("resend: %d %s", code, body)
	}
	var queued bool
	for _, s := range f.host.Schedules() {
		queued = queued || strings.HasPrefix(s.Key, "resend/"+id+"/0/")
	}
	if !queued {
		t.Errorf("no resend callback for recipient 0: %+v", f.host.Schedules())
	}
	for _, c := range []struct{ target, body, code string }{
		{"/api/requests/nope/resend", `{"email": "ada@example.com"}`, "no_request"},
		{"/api/requests/" + id + "/resend", `{"email": "eve@example.com"}`, "no_recipient"},
	} {
		code, body := f.apiCall(http.MethodPost, c.target, c.body, true)
		if code != http.StatusNotFound || !strings.Contains(body, `"code":"`+c.code+`"`) {
			t.Errorf("%s %s: %d %s", c.target, c.body, code, body)
		}
	}

	// A link that would not be sent is refused, not queued: HR signs
	// after Ada, and nobody signs a cancelled request.
	before := len(f.host.Schedules())
	if code, body := f.apiCall(http.MethodPost, "/api/requests/"+id+"/resend", `{"email": "hr@example.com"}`, true); code != http.StatusConflict || !strings.Contains(body, `"code":"not_their_turn"`) {
		t.Errorf("resend to a recipient whose turn has not come: %d %s", code, body)
	}
	if after := len(f.host.Schedules()); after != before {
		t.Errorf("a refused resend queued %d callbacks: %+v", after-before, f.host.Schedules())
	}
	if code, body := f.apiCall(http.MethodPost, "/api/requests/"+id+"/cancel", `{}`, true); code != http.StatusOK {
		t.Fatalf("cancel: %d %s", code, body)
	}
	before = len(f.host.Schedules()) // the cancel's own settle callback
	if code, body := f.apiCall(http.MethodPost, "/api/requests/"+id+"/resend", `{"email": "ada@example.com"}`, true); code != http.StatusConflict ||
		!strings.Contains(body, `"code":"request_closed"`) || !strings.Contains(body, `"status":"cancelled"`) {
		t.Errorf("resend on a cancelled request: %d %s", code, body)
	}
	if after := len(f.host.Schedules()); after != before {
		t.Errorf("a refused resend queued %d callbacks: %+v", after-before, f.host.Schedules())
	}
}

// TestAPIRefusesPublicCalls: without the host's mark the routes are an
// unknown page, whatever the request says about itself.
func TestAPIRefusesPublicCalls(t *testing.T) {
	t.Parallel()
	f := newFixture(t, resolved)
	res := f.process(f.item("1", nil, ""))
	id := res[0].Outputs["request_id"].(string)
	for _, c := range []struct{ method, target, body string }{
		{http.MethodGet, "/api/requests", ""},
		{http.MethodGet, "/api/requests?run=run-1", ""},
		{http.MethodPost, "/api/requests/" + id + "/resend", `{"email": "ada@example.com"}`},
	} {
		code, body := f.apiCall(c.method, c.target, c.body, false)
		if code != http.StatusNotFound || strings.Contains(body, id) {
			t.Errorf("%s %s: %d %s", c.method, c.target, code, body)
		}
	}
	for _, s := range f.host.Schedules() {
		if strings.HasPrefix(s.Key, "resend/") {
			t.Errorf("a public call queued %s", s.Key)
		}
	}
}
