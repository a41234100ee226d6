package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	sdkevents "github.com/paperflow/paperflow/plugins/sdk/events"
	"github.com/paperflow/paperflow/plugins/signature/requests"
)

// TestCancel: a cancelled request's links (signing page, document, page
// images, a verification POST) answer the cancelled page, the event
// carries each recipient's status at that moment and the reason, and the
// scheduled reminder, resend and expiry do nothing afterwards.
func TestCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t, resolved)
	res := f.process(f.item("1", nil, ""))
	links := f.links(res[0])
	id := res[0].Outputs["request_id"].(string)
	if code, body := f.sign(links[0], "Ada Lovelace"); code != http.StatusOK {
		t.Fatalf("sign: %d %s", code, body)
	}
	hr := f.host.mailsTo("hr@example.com")
	if len(hr) != 1 {
		t.Fatalf("hr invitations: %d", len(hr))
	}
	hrLink := mailLink(t, hr[0])
	f.get(hrLink) // HR has seen it
	mails := len(f.host.Mails())

	code, body := f.apiCall(http.MethodPost, "/api/requests/"+id+"/cancel", `{"reason": "The offer was <b>withdrawn</b>."}`, true)
	var ans requests.CancelAnswer
	if err := json.Unmarshal([]byte(body), &ans); code != http.StatusOK || err != nil || ans.Status != statusCancelled || ans.Request != id || ans.CancelledAt.IsZero() {
		t.Fatalf("cancel: %d %s", code, body)
	}

	evs := f.host.events(sdkevents.SignaturesCancelled)
	if len(evs) != 1 {
		t.Fatalf("%d SIGNATURES_CANCELLED events", len(evs))
	}
	validate(t, evs[0].EventData)
	var data sdkevents.SignaturesCancelledData
	if err := json.Unmarshal(evs[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.RequestID != id || data.Reason != "The offer was <b>withdrawn</b>." || data.CancelledAt != "2026-03-14T09:00:00Z" ||
		len(data.Recipients) != 2 || data.Recipients[0].Status != "COMPLETED" || data.Recipients[0].SignedAt == "" ||
		data.Recipients[1].Status != "PENDING" || len(data.Documents) != 1 {
		t.Errorf("event data: %s", evs[0].Data)
	}

	for _, c := range []struct{ what, method, link string }{
		{"signed recipient's page", http.MethodGet, links[0]},
		{"pending recipient's page", http.MethodGet, hrLink},
		{"document", http.MethodGet, strings.Replace(hrLink, "/sign/sign/", "/sign/doc/", 1) + "/0"},
		{"page image", http.MethodGet, strings.Replace(hrLink, "/sign/sign/", "/sign/page/", 1) + "/0/1"},
		{"form", http.MethodPost, hrLink},
	} {
		var code int
		var body string
		if c.method == http.MethodPost {
			code, body = f.post(c.link, url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"HR"}})
		} else {
			code, body = f.get(c.link)
		}
		if code != http.StatusGone || !strings.Contains(body, "This request was cancelled") || !strings.Contains(body, "The offer was &lt;b&gt;withdrawn&lt;/b&gt;.") {
			t.Errorf("%s after cancel: %d\n%s", c.what, code, body)
		}
	}

	// Callbacks registered before the cancel find it closed.
	f.clock.Add(25 * time.Hour)
	for _, key := range []string{"remind/" + id + "/1", "resend/" + id + "/1/1", "settle/" + id + "/cancel", "expire/" + id} {
		if err := f.block.Scheduled(context.Background(), key, nil); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
	if n := len(f.host.Mails()); n != mails {
		t.Errorf("%d mails sent after the cancel", n-mails)
	}
	if r := f.request(); r.Status != statusCancelled || len(f.host.events(sdkevents.SignaturesExpired)) != 0 || len(f.host.events(sdkevents.SignaturesCancelled)) != 1 {
		t.Errorf("after the callbacks: status %s, %d expired, %d cancelled events", r.Status, len(f.host.events(sdkevents.SignaturesExpired)), len(f.host.events(sdkevents.SignaturesCancelled)))
	}

	// The list shows how it ended and what each recipient did.
	code, body = f.apiCall(http.MethodGet, "/api/requests?item=1", "", true)
	var reqs []requests.Request
	if err := json.Unmarshal([]byte(body), &reqs); code != http.StatusOK || err != nil || len(reqs) != 1 {
		t.Fatalf("list: %d %v %s", code, err, body)
	}
	r := reqs[0]
	if r.Status != statusCancelled || r.CancelReason != "The offer was <b>withdrawn</b>." || r.CancelledAt.IsZero() ||
		r.Recipients[0].SignedAt.IsZero() || r.Recipients[0].ViewedAt.IsZero() || r.Recipients[1].ViewedAt.IsZero() || !r.Recipients[1].SignedAt.IsZero() {
		t.Errorf("summary: %s", body)
	}
	for _, key := range []string{`"declined_at"`, `"verified_at"`, `"expired_at"`} {
		if strings.Contains(body, key) {
			t.Errorf("summary shows %s, which did not happen: %s", key, body)
		}
	}
	if _, body := f.apiCall(http.MethodGet, "/api/requests?item=2", "", true); strings.TrimSpace(body) != "[]" {
		t.Errorf("list of another item: %s", body)
	}
}

// TestCancelRefused: a request that has ended cannot be cancelled (409,
// request_closed, with its status), and a cancel that cannot be read or
// whose reason is too long changes nothing.
func TestCancelRefused(t *testing.T) {
	t.Parallel()
	one := `{"documents": ["contract"], "recipients": [{"email": "ada@example.com"}], "expires_in": "1h"}`
	for _, c := range []struct {
		name   string
		end    func(f *fixture, link, id string)
		body   string
		code   int
		answer string
	}{
		{"completed", func(f *fixture, link, _ string) { f.sign(link, "Ada") }, `{}`, http.StatusConflict, `"code":"request_closed","error":"signature request ` + "%ID" + ` is completed; only a pending request can be cancelled","status":"completed"`},
		{"declined", func(f *fixture, link, _ string) {
			f.post(link, url.Values{"action": {"decline"}, "submission": {f.submission(link)}})
		}, `{}`, http.StatusConflict, `"status":"declined"`},
		{"expired", func(f *fixture, _, _ string) { f.clock.Add(2 * time.Hour) }, `{}`, http.StatusConflict, `"status":"expired"`},
		{"cancelled", func(f *fixture, _, id string) {
			f.apiCall(http.MethodPost, "/api/requests/"+id+"/cancel", ``, true)
		}, `{"reason": "again"}`, http.StatusConflict, `"status":"cancelled"`},
		{"reason too long", func(*fixture, string, string) {}, `{"reason": "` + strings.Repeat("é", 501) + `"}`, http.StatusBadRequest, `"code":"reason_too_long"`},
		{"reason longer than a body may be", func(*fixture, string, string) {}, `{"reason": "` + strings.Repeat("a", 20<<10) + `"}`, http.StatusBadRequest,
			`"code":"reason_too_long","error":"the reason is longer than 500 characters"`},
		{"not JSON", func(*fixture, string, string) {}, `reason=x`, http.StatusBadRequest, `"code":"bad_request"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, one)
			res := f.process(f.item("1", nil, ""))
			id := res[0].Outputs["request_id"].(string)
			c.end(f, f.links(res[0])[0], id)
			before := f.request()
			code, body := f.apiCall(http.MethodPost, "/api/requests/"+id+"/cancel", c.body, true)
			if code != c.code || !strings.Contains(body, strings.ReplaceAll(c.answer, "%ID", id)) {
				t.Errorf("cancel: %d %s", code, body)
			}
			if after := f.request(); after.Status != before.Status && !(c.name == "expired" && after.Status == statusExpired) {
				t.Errorf("status went from %s to %s", before.Status, after.Status)
			}
			if n := len(f.host.events(sdkevents.SignaturesCancelled)); n > 1 || (n == 1) != (c.name == "cancelled") {
				t.Errorf("%d SIGNATURES_CANCELLED events", n)
			}
		})
	}
	f := newFixture(t, one)
	if code, body := f.apiCall(http.MethodPost, "/api/requests/nope/cancel", `{}`, true); code != http.StatusNotFound || !strings.Contains(body, `"code":"no_request"`) {
		t.Errorf("unknown request: %d %s", code, body)
	}
	if _, ok := f.host.schedules()["settle/nope/cancel"]; ok {
		t.Error("a cancel of an unknown request left a callback scheduled")
	}
	res := f.process(f.item("1", nil, ""))
	id := res[0].Outputs["request_id"].(string)
	if code, body := f.apiCall(http.MethodPost, "/api/requests/"+id+"/cancel", `{}`, false); code != http.StatusNotFound || strings.Contains(body, id) {
		t.Errorf("public cancel: %d %s", code, body)
	}
	if r := f.request(); r.Status != statusPending {
		t.Errorf("a public call cancelled the request: %s", r.Status)
	}
}
