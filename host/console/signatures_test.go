package console_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/bus"
)

var requestAttr = regexp.MustCompile(`data-request="([^"]+)"`)

// TestSignaturePanel: the item page of an item that went through a
// signature block shows its request, asked of the block in process: the
// recipients (values escaped), resend per invited recipient (a callback
// queued), cancel with a reason (the request shows cancelled, a second
// cancel is refused with the block's reason); the read-only login sees
// no buttons.
func TestSignaturePanel(t *testing.T) {
	e := newEnv(t)
	runID := e.serveSignatures(t)
	c := e.client(t, testToken)
	item := "/runs/" + runID + "/items/1"
	resp, page := get(t, c, e.url+item)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("item page: %s", resp.Status)
	}
	if !strings.Contains(page, `id="signatures"`) || !strings.Contains(page, "ada@example.com") || !strings.Contains(page, "lead@example.com") {
		t.Fatalf("the item page shows no signature request with its recipients:\n%s", page)
	}
	if strings.Contains(page, "<img") || !strings.Contains(page, html.EscapeString(hostile)) {
		t.Fatal("the recipient's name is not shown as text")
	}
	m := requestAttr.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no request on the item page")
	}
	req := m[1]
	if n := strings.Count(page, ">Resend</button>"); n != 1 {
		t.Fatalf("%d Resend buttons, want 1: the invited recipient's, not the lead's who is not invited yet", n)
	}
	base := "/runs/" + runID + "/items/1/signatures/sign/" + req

	status, body := postRaw(t, c, e.url, item, base+"/resend", url.Values{"email": {"ada@example.com"}})
	if status != http.StatusSeeOther {
		t.Fatalf("resend: %d:\n%s", status, body)
	}
	if keys := scheduledKeys(t, e.bus, "console-sign", "sign"); !hasPrefix(keys, "resend/"+req+"/0/") {
		t.Fatalf("no resend queued for the recipient; scheduled: %v", keys)
	}
	status, body = postRaw(t, c, e.url, item, base+"/resend", url.Values{"email": {"nobody@example.com"}})
	if status != http.StatusNotFound || !strings.Contains(html.UnescapeString(body), "has no recipient nobody@example.com") {
		t.Fatalf("resend to no recipient: %d, want 404 with the block's reason:\n%s", status, body)
	}
	status, body = postRaw(t, c, e.url, item, "/runs/"+runID+"/items/1/signatures/letter/"+req+"/cancel", url.Values{})
	if status != http.StatusNotFound {
		t.Fatalf("cancel through a block that is not a signature block: %d, want 404:\n%s", status, body)
	}

	// Item 2's request, through item 1's page: the path names the item
	// whose request is acted on, so it is refused and stays open.
	_, page2 := get(t, c, e.url+"/runs/"+runID+"/items/2")
	m2 := requestAttr.FindStringSubmatch(page2)
	if m2 == nil || m2[1] == req {
		t.Fatal("no request of its own on item 2's page")
	}
	other := "/runs/" + runID + "/items/1/signatures/sign/" + m2[1]
	for _, action := range []struct {
		path string
		form url.Values
	}{{other + "/cancel", url.Values{}}, {other + "/resend", url.Values{"email": {"bob@example.com"}}}} {
		if status, body := postRaw(t, c, e.url, item, action.path, action.form); status != http.StatusNotFound {
			t.Fatalf("%s, item 2's request through item 1: %d, want 404:\n%s", action.path, status, body)
		}
	}
	if _, page2 = get(t, c, e.url+"/runs/"+runID+"/items/2"); !strings.Contains(page2, `data-field="request-status">pending<`) {
		t.Fatalf("item 2's request after a cancel through item 1's page:\n%s", page2)
	}

	status, body = postRaw(t, c, e.url, item, base+"/cancel", url.Values{"reason": {"sent by mistake " + hostile}})
	if status != http.StatusSeeOther {
		t.Fatalf("cancel: %d:\n%s", status, body)
	}
	_, page = get(t, c, e.url+item)
	if !strings.Contains(page, `data-field="request-status">cancelled<`) || !strings.Contains(page, html.EscapeString("sent by mistake "+hostile)) {
		t.Fatalf("after cancel the item page does not show the request cancelled with its reason:\n%s", page)
	}
	if strings.Contains(page, "<img") || strings.Contains(page, ">Resend</button>") || strings.Contains(page, "Cancel request") {
		t.Fatal("a cancelled request still offers Resend or Cancel, or the reason went in as HTML")
	}
	status, body = postRaw(t, c, e.url, item, base+"/cancel", url.Values{})
	if status != http.StatusConflict || !strings.Contains(body, "only a pending request can be cancelled") {
		t.Fatalf("a second cancel: %d, want 409 with the block's reason:\n%s", status, body)
	}

	// Item 2's request is open; the read-only login sees it, without buttons.
	ro := e.client(t, readOnlyToken)
	_, page = get(t, ro, e.url+"/runs/"+runID+"/items/2")
	if !strings.Contains(page, "bob@example.com") || strings.Contains(page, ">Resend</button>") || strings.Contains(page, "Cancel request") {
		t.Fatal("the read-only login does not see item 2's request, or sees its buttons")
	}
}

// scheduledKeys lists the keys of a block's callbacks waiting in the
// schedules stream (a work queue: read by sequence, not consumed).
func scheduledKeys(t *testing.T, b *bus.Bus, workflow, block string) []string {
	t.Helper()
	ctx := context.Background()
	st, err := b.JS.Stream(ctx, bus.SchedulesStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if bus.IsNotFound(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != bus.SchedulesSubject(workflow, block) {
			continue
		}
		var s struct{ Key string }
		_ = json.Unmarshal(m.Data, &s)
		keys = append(keys, s.Key)
	}
	return keys
}

func hasPrefix(keys []string, prefix string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
