package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/signature/pdfsign"
)

const twoSigners = `{
  "documents": ["contract"],
  "recipients": [
    {"email": "{{Email}}", "name": "{{Name}}", "order": 1},
    {"email": "hr@example.com", "name": "HR Department", "order": 2}
  ],
  "subject": "Your contract", "message": "Please sign.\nThank you!", "remind_every": "24h"
}`

// resolved is twoSigners as the host hands it over for Ada.
const resolved = `{
  "documents": ["contract"],
  "recipients": [
    {"email": "ada@example.com", "name": "Ada Lovelace", "order": 1},
    {"email": "hr@example.com", "name": "HR Department", "order": 2}
  ],
  "subject": "Your contract", "message": "Please sign.\nThank you!", "remind_every": "24h"
}`

func TestSigningOrderAndCompletion(t *testing.T) {
	t.Parallel()
	f := newFixture(t, twoSigners)
	res := f.process(f.item("1", map[string]any{"Email": "ada@example.com"}, resolved))
	links := f.links(res[0])
	if res[0].Outputs["status"] != "pending" || res[0].Outputs["request_id"] == "" {
		t.Errorf("outputs: %v", res[0].Outputs)
	}

	// Only order 1 is invited, with the link of the event.
	ada := f.host.mailsTo("ada@example.com")
	if len(ada) != 1 || len(f.host.mailsTo("hr@example.com")) != 0 {
		t.Fatalf("invitations: ada %d, hr %d; want 1, 0", len(ada), len(f.host.mailsTo("hr@example.com")))
	}
	if got := mailLink(t, ada[0]); got != links[0] {
		t.Errorf("mailed link %s differs from the event's %s", got, links[0])
	}
	if ada[0].To[0] != `"Ada Lovelace" <ada@example.com>` || ada[0].Subject != "Your contract" || !strings.Contains(ada[0].Text, "Please sign.\nThank you!") {
		t.Errorf("invitation: %+v", ada[0])
	}
	if _, ok := f.host.schedules()["expire/"+res[0].Outputs["request_id"].(string)]; !ok {
		t.Errorf("no expiry scheduled: %v", f.host.schedules())
	}

	// HR's link waits for Ada.
	if code, body := f.get(links[1]); code != http.StatusConflict || !strings.Contains(body, "Not your turn yet") {
		t.Errorf("HR before Ada: %d %s", code, body)
	}
	code, page := f.get(links[0])
	if code != http.StatusOK || !strings.Contains(page, "Contract Ada.pdf") || !strings.Contains(page, `href="../doc/`) || !strings.Contains(page, `src="../page/`) || !strings.Contains(page, `loading="lazy"`) {
		t.Fatalf("signing page: %d\n%s", code, page)
	}
	// The document, to download.
	tok := links[0][strings.LastIndex(links[0], "/")+1:]
	if code, body := f.get("https://sign.example.com/blocks/hiring/sign/doc/" + tok + "/0"); code != 200 || !strings.HasPrefix(body, "%PDF-") {
		t.Errorf("document route: %d %.20q", code, body)
	}

	if code, body := f.post(links[0], url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"Ada Lovelace"}, "submission": {f.submission(links[0])}},
		"X-Forwarded-For", "198.51.100.23, 10.0.0.1"); code != 200 || !strings.Contains(body, "Thank you, Ada Lovelace") {
		t.Fatalf("sign as Ada: %d\n%s", code, body)
	}
	if len(f.host.events("SIGNATURES_COMPLETED")) != 0 {
		t.Fatal("completed after the first of two signatures")
	}
	hr := f.host.mailsTo("hr@example.com")
	if len(hr) != 1 {
		t.Fatalf("HR invitations after Ada signed: %d, want 1", len(hr))
	}
	f.clock.Add(time.Hour)
	if code, body := f.sign(mailLink(t, hr[0]), "Grace Hopper"); code != 200 || !strings.Contains(body, "Everyone has signed") {
		t.Fatalf("sign as HR: %d\n%s", code, body)
	}

	done := f.host.events("SIGNATURES_COMPLETED")
	if len(done) != 1 {
		t.Fatalf("%d SIGNATURES_COMPLETED events, want 1", len(done))
	}
	validate(t, done[0].EventData)
	if done[0].RunID != "run-1" || done[0].ItemID != "1" {
		t.Errorf("emitted for %s/%s", done[0].RunID, done[0].ItemID)
	}
	var data struct {
		Documents  []sdk.Document `json:"documents"`
		Recipients []struct {
			Status       string `json:"status"`
			SignatureURL string `json:"signature_url"`
		} `json:"recipients"`
	}
	_ = json.Unmarshal(done[0].Data, &data)
	if len(data.Documents) != 1 || data.Documents[0].Name != "Contract Ada (signed).pdf" {
		t.Fatalf("signed documents: %+v", data.Documents)
	}
	_, signed, err := f.host.GetDocument(context.Background(), data.Documents[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pdfsign.Verify(signed); err != nil {
		t.Errorf("signed PDF: %v", err)
	}
	r := f.request()
	if r.Status != statusCompleted || !r.Emitted || r.Recipients[0].IP != "198.51.100.23" || r.Recipients[0].RemoteAddr != "127.0.0.1" {
		t.Errorf("state: %+v", r)
	}
	// Everyone gets the signed PDF.
	for _, who := range []string{"ada@example.com", "hr@example.com"} {
		ms := f.host.mailsTo(who)
		last := ms[len(ms)-1]
		if len(last.Attachments) != 1 || last.Attachments[0].DocumentID != data.Documents[0].ID {
			t.Errorf("%s did not get the signed PDF: %+v", who, last)
		}
	}
	// Used links stop working; the receipt link shows the signed PDF.
	if code, body := f.get(links[0]); code != http.StatusGone || !strings.Contains(body, "already been used") || strings.Contains(body, "Contract Ada") {
		t.Errorf("used link: %d\n%s", code, body)
	}
	if code, body := f.get(data.Recipients[0].SignatureURL); code != 200 || !strings.Contains(body, "Contract Ada (signed).pdf") {
		t.Errorf("receipt: %d\n%s", code, body)
	}
	// settle again (the scheduled safety net): nothing new.
	mails := len(f.host.Mails())
	for k := range f.host.schedules() {
		if strings.HasPrefix(k, "settle/") {
			if err := f.block.Scheduled(context.Background(), k, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(f.host.Mails()) != mails || len(f.host.events("SIGNATURES_COMPLETED")) != 1 {
		t.Errorf("the safety-net settle did work again")
	}
}

func TestDoubleSubmitSignsOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"documents": ["contract"], "recipients": [{"email": "ada@example.com"}]}`)
	link := f.links(f.process(f.item("1", nil, ""))[0])[0]
	form := url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"Ada"}, "submission": {f.submission(link)}}
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Go(func() { codes[i], _ = f.post(link, form) })
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("submit %d of the same form: %d, want 200 (the first answer again)", i, c)
		}
	}
	if n := len(f.host.events("SIGNATURES_COMPLETED")); n != 1 {
		t.Errorf("%d completed events", n)
	}
	if trail := f.request().Trail; strings.Count(trailText(trail), "Signed by") != 1 {
		t.Errorf("trail: %s", trailText(trail))
	}
	// Another form (another tab, later) gets the error page.
	form.Set("submission", strings.Repeat("ab", 16))
	if code, body := f.post(link, form); code != http.StatusGone || !strings.Contains(body, "already been used") {
		t.Errorf("reused link: %d %s", code, body)
	}
}

func TestConcurrentFormsSignOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"documents": ["contract"], "recipients": [{"email": "ada@example.com"}, {"email": "bob@example.com"}]}`)
	links := f.links(f.process(f.item("1", nil, ""))[0])
	// Ten forms, as if each signer had the page open in five tabs.
	forms := make([]url.Values, 10)
	for i := range forms {
		forms[i] = url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"Signer"}, "submission": {f.submission(links[i%2])}}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range forms {
		wg.Go(func() {
			code, _ := f.post(links[i%2], forms[i])
			if code == 200 {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 2 {
		t.Errorf("%d of 10 sign attempts on two links succeeded, want 2", ok)
	}
	if n := len(f.host.events("SIGNATURES_COMPLETED")); n != 1 {
		t.Errorf("%d completed events, want 1", n)
	}
}

func trailText(tr []trailEntry) string {
	var b strings.Builder
	for _, e := range tr {
		b.WriteString(e.What + "\n")
	}
	return b.String()
}

func TestBadLinksGetThePlainErrorPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"documents": ["contract"], "recipients": [{"email": "ada@example.com", "name": "Ada Secret"}]}`)
	f.links(f.process(f.item("1", nil, ""))[0])
	base := "https://sign.example.com/blocks/hiring/sign/"
	for _, path := range []string{
		"sign/" + strings.Repeat("A", 43), // well-formed, unknown
		"sign/short",
		"sign/../../etc/passwd",
		"doc/" + strings.Repeat("A", 43) + "/0",
		"receipt/" + strings.Repeat("A", 43),
		"nothing",
	} {
		code, body := f.get(base + path)
		if code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, code)
		}
		if strings.Contains(body, "Ada") || strings.Contains(body, "Contract") {
			t.Errorf("%s: the error page shows request data:\n%s", path, body)
		}
	}
	code, _ := f.post(base+"sign/"+strings.Repeat("A", 43), url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"x"}})
	if code != http.StatusNotFound {
		t.Errorf("POST with an unknown token: %d", code)
	}
}

func TestItemValuesAreEscaped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"documents": ["contract"], "recipients": [{"email": "ada@example.com", "name": "{{Name}}"}], "message": "{{Note}}"}`)
	evil := `<script>window.pwned=1</script>`
	link := f.links(f.process(f.item("1", nil, `{"documents": ["contract"], "recipients": [{"email": "ada@example.com", "name": "`+`<script>window.pwned=1</script>`+`"}], "message": "<img src=x onerror=alert(1)>"}`))[0])[0]
	_, page := f.get(link)
	if strings.Contains(page, evil) || strings.Contains(page, "<img src=x") {
		t.Fatalf("item values unescaped on the page:\n%s", page)
	}
	if !strings.Contains(page, "&lt;script&gt;window.pwned=1&lt;/script&gt;") {
		t.Errorf("the name is not shown (escaped):\n%s", page)
	}
	m := f.host.mailsTo("ada@example.com")[0]
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<img src=x") {
		t.Errorf("item values unescaped in the invitation's HTML:\n%s", m.HTML)
	}
}

func TestConsentAndNameRequired(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"documents": ["contract"], "recipients": [{"email": "ada@example.com"}]}`)
	link := f.links(f.process(f.item("1", nil, ""))[0])[0]
	code, body := f.post(link, url.Values{"action": {"sign"}, "name": {"Ada"}, "submission": {f.submission(link)}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "Tick the box") {
		t.Errorf("no consent: %d", code)
	}
	code, body = f.post(link, url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"  \x00 "}, "submission": {f.submission(link)}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "Type your full name") {
		t.Errorf("no name: %d", code)
	}
	if r := f.request(); r.Recipients[0].Status != recipientPending {
		t.Errorf("signed without consent or name: %+v", r.Recipients[0])
	}
}

func TestDeclineEndsTheRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t, resolved)
	links := f.links(f.process(f.item("1", nil, ""))[0])
	code, body := f.post(links[0], url.Values{"action": {"decline"}, "reason": {"Wrong salary <b>!</b>"}, "submission": {f.submission(links[0])}})
	if code != 200 || !strings.Contains(body, "You declined") {
		t.Fatalf("decline: %d\n%s", code, body)
	}
	dec := f.host.events("SIGNATURES_DECLINED")
	if len(dec) != 1 || len(f.host.events("SIGNATURES_COMPLETED")) != 0 {
		t.Fatalf("declined %d, completed %d", len(dec), len(f.host.events("SIGNATURES_COMPLETED")))
	}
	validate(t, dec[0].EventData)
	var data struct {
		Reason     string `json:"reason"`
		Recipients []struct{ Status string }
	}
	_ = json.Unmarshal(dec[0].Data, &data)
	if data.Reason != "Wrong salary <b>!</b>" || data.Recipients[0].Status != "DECLINED" || data.Recipients[1].Status != "PENDING" {
		t.Errorf("declined event: %s", dec[0].Data)
	}
	if len(f.host.mailsTo("hr@example.com")) != 0 {
		t.Error("HR was invited after a decline")
	}
	for _, l := range links {
		if code, body := f.get(l); code != http.StatusGone || !strings.Contains(body, "closed") {
			t.Errorf("link after decline: %d %s", code, body)
		}
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"documents": ["contract"], "recipients": [{"email": "ada@example.com"}], "expires_in": "2d"}`)
	res := f.process(f.item("1", nil, ""))
	link := f.links(res[0])[0]
	id := res[0].Outputs["request_id"].(string)
	if at := f.host.schedules()["expire/"+id]; !at.Equal(f.clock.Now().Add(48 * time.Hour)) {
		t.Errorf("expiry scheduled at %v", at)
	}
	f.clock.Add(48*time.Hour + time.Second)
	if code, body := f.get(link); code != http.StatusGone || !strings.Contains(body, "expired") {
		t.Errorf("after expiry: %d %s", code, body)
	}
	if err := f.block.Scheduled(context.Background(), "expire/"+id, nil); err != nil {
		t.Fatal(err)
	}
	if r := f.request(); r.Status != statusExpired {
		t.Errorf("status %s", r.Status)
	}
	if len(f.host.events("SIGNATURES_COMPLETED"))+len(f.host.events("SIGNATURES_DECLINED")) != 0 {
		t.Error("an expired request emitted a final event")
	}
}

func TestReminders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, resolved)
	res := f.process(f.item("1", nil, ""))
	f.links(res[0])
	id := res[0].Outputs["request_id"].(string)
	if _, ok := f.host.schedules()[reminderKey(id, 1)]; !ok {
		t.Fatalf("first reminder not scheduled: %v", f.host.schedules())
	}
	f.clock.Add(24 * time.Hour)
	for range 2 { // a callback delivered twice reminds once
		if err := f.block.Scheduled(context.Background(), reminderKey(id, 1), nil); err != nil {
			t.Fatal(err)
		}
	}
	ada := f.host.mailsTo("ada@example.com")
	if len(ada) != 2 || !strings.HasPrefix(ada[1].Subject, "Reminder: ") {
		t.Fatalf("mails to Ada: %d", len(ada))
	}
	if len(f.host.mailsTo("hr@example.com")) != 0 {
		t.Error("HR reminded before being invited")
	}
	if code, _ := f.sign(mailLink(t, ada[1]), "Ada"); code != 200 {
		t.Errorf("the reminder's link does not sign: %d", code)
	}
	if _, ok := f.host.schedules()[reminderKey(id, 2)]; !ok {
		t.Errorf("second reminder not scheduled")
	}
}

func TestRetriedProcessInvitesOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, resolved)
	it := f.item("1", nil, "")
	first := f.links(f.process(it)[0])
	second := f.links(f.process(it)[0])
	if len(f.host.mailsTo("ada@example.com")) != 1 {
		t.Errorf("a retried item invited again")
	}
	for _, l := range []string{first[0], second[0]} {
		if code, _ := f.get(l); code != 200 {
			t.Errorf("link %s: %d", l, code)
		}
	}
}

func TestDrawnSignature(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"documents": ["contract"], "recipients": [{"email": "ada@example.com"}]}`)
	link := f.links(f.process(f.item("1", nil, ""))[0])[0]
	img := image.NewNRGBA(image.Rect(0, 0, 300, 100))
	for x := 10; x < 290; x++ {
		img.Set(x, 50+x%20, color.NRGBA{20, 40, 120, 255})
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	form := url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"Ada"}, "submission": {f.submission(link)},
		"drawn": {"data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())}}
	if code, body := f.post(link, form); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	r := f.request()
	if !r.Recipients[0].Drawn || len(r.Signed) != 1 {
		t.Fatalf("state: %+v", r)
	}
	_, signed, _ := f.host.GetDocument(context.Background(), r.Signed[0].ID)
	if !bytes.Contains(signed, []byte("/Subtype/Image")) && !bytes.Contains(signed, []byte("/Subtype /Image")) {
		t.Error("the drawn signature is not in the signed PDF")
	}
	if _, err := pdfsign.Verify(signed); err != nil {
		t.Error(err)
	}
	// Not a PNG: the form comes back with an error.
	f2 := newFixture(t, `{"documents": ["contract"], "recipients": [{"email": "ada@example.com"}]}`)
	link2 := f2.links(f2.process(f2.item("1", nil, ""))[0])[0]
	form.Set("drawn", "data:image/png;base64,"+base64.StdEncoding.EncodeToString([]byte("<svg onload=alert(1)>")))
	form.Set("submission", f2.submission(link2))
	if code, _ := f2.post(link2, form); code != http.StatusUnprocessableEntity {
		t.Errorf("bad drawing: %d", code)
	}
}

// TestSettleFinishesAfterACrash leaves a request as a process that died
// right after recording the last signature would, and lets the scheduled
// safety net finish it.
func TestSettleFinishesAfterACrash(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"documents": ["contract"], "recipients": [{"email": "ada@example.com"}]}`)
	res := f.process(f.item("1", nil, ""))
	f.links(res[0])
	id := res[0].Outputs["request_id"].(string)
	_, err := f.block.change(context.Background(), id, func(x *request) (bool, error) {
		x.Recipients[0].Status, x.Recipients[0].Signature, x.Recipients[0].SignedAt = recipientSigned, "Ada", f.clock.Now()
		x.Status = statusSealing
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.block.Scheduled(context.Background(), "settle/"+id+"/0", nil); err != nil {
		t.Fatal(err)
	}
	if n := len(f.host.events("SIGNATURES_COMPLETED")); n != 1 || f.request().Status != statusCompleted {
		t.Errorf("completed events %d, status %s", n, f.request().Status)
	}
}

func TestProcessErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"documents": ["contract"], "recipients": [{"email": "{{Email}}", "order": "{{Order}}"}]}`)
	docx, _ := f.host.PutDocument(context.Background(), "Letter.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", []byte("PK"))
	locked, _ := f.host.PutDocument(context.Background(), "Locked.pdf", "application/pdf", []byte("%PDF-1.7\n1 0 obj<</Encrypt 2 0 R>>"))
	withDoc := func(d sdk.Document, cfg string) sdk.Item {
		it := f.item("1", nil, cfg)
		it.RawBlocks, _ = json.Marshal(map[string]any{"contract": map[string]any{"documents": []sdk.Document{d}}})
		return it
	}
	noDocs := f.item("2", nil, `{"documents": ["contract"], "recipients": [{"email": "a@example.com"}]}`)
	noDocs.RawBlocks = json.RawMessage(`{"contract": {"skipped": true}}`)
	for _, c := range []struct {
		it   sdk.Item
		want string
	}{
		{f.item("1", nil, `{"documents": ["contract"], "recipients": [{"email": ""}]}`), "recipients[0].email is empty"},
		{f.item("1", nil, `{"documents": ["contract"], "recipients": [{"email": "not an address"}]}`), "not an email address"},
		{f.item("1", nil, `{"documents": ["contract"], "recipients": [{"email": "a@example.com", "order": "first"}]}`), "recipients[0].order"},
		{f.item("1", nil, `{"documents": ["contract"], "recipients": [{"email": "a@example.com"}, {"email": "A@example.com"}]}`), "listed twice"},
		{f.item("1", nil, `{"documents": ["contract"], "recipients": [{"email": "a@example.com"}], "expires_in": "soon"}`), "expires_in"},
		{f.item("1", nil, `{"documents": ["contract"], "recipients": [{"email": "a@example.com"}], "from": "Billing <nope"}`), "from \"Billing <nope\" is not an email address"},
		{noDocs, "block contract skipped this item"},
		{withDoc(docx, `{"documents": ["contract"], "recipients": [{"email": "a@example.com"}]}`), "only PDFs can be signed"},
		{withDoc(locked, `{"documents": ["contract"], "recipients": [{"email": "a@example.com"}]}`), "encrypted"},
	} {
		res := f.process(c.it)
		if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), c.want) {
			t.Errorf("want an error with %q, got %v", c.want, res[0].Err)
		}
	}
	if len(f.host.Mails()) != 0 {
		t.Errorf("mails sent for failed items: %d", len(f.host.Mails()))
	}
	// A numeric order arriving as a string from a tag is fine.
	ok := f.process(f.item("3", nil, `{"documents": ["contract"], "recipients": [{"email": "a@example.com", "order": "2"}]}`))
	if ok[0].Err != nil {
		t.Errorf("order \"2\": %v", ok[0].Err)
	}
}

// TestProcessFieldDocuments: a documents entry that is a tag names a field
// holding an uploaded PDF; the host renders it as the document's JSON. The
// store's name and type count, not what the item claims.
func TestProcessFieldDocuments(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"documents": ["{{upload}}"], "recipients": [{"email": "a@example.com"}]}`)
	ctx := context.Background()
	docx, _ := f.host.PutDocument(ctx, "Letter.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", []byte("PK"))
	field := func(v any) string {
		raw, _ := json.Marshal(v)
		cfg, _ := json.Marshal(map[string]any{"documents": []string{string(raw)}, "recipients": []any{map[string]any{"email": "a@example.com"}}})
		return string(cfg)
	}
	it := f.item("1", nil, field(map[string]any{"id": f.doc.ID, "name": "upload.pdf", "mimetype": "application/pdf", "url": "http://x"}))
	it.RawBlocks = nil
	if res := f.process(it); res[0].Err != nil {
		t.Fatalf("a field holding an uploaded PDF: %v", res[0].Err)
	}
	if docs := f.request().Documents; len(docs) != 1 || docs[0].ID != f.doc.ID || docs[0].Name != f.doc.Name {
		t.Errorf("documents of the request: %+v", docs)
	}
	for _, c := range []struct {
		config, want string
	}{
		{field(map[string]any{"id": docx.ID, "name": "Letter.pdf", "mimetype": "application/pdf"}), "only PDFs can be signed"},
		{field(map[string]any{"name": "x.pdf"}), "has no document id"},
		{field([]any{}), "the field made no documents"},
		{`{"documents": [""], "recipients": [{"email": "a@example.com"}]}`, "nothing to sign"},
	} {
		if res := f.process(f.item("2", nil, c.config)); res[0].Err == nil || !strings.Contains(res[0].Err.Error(), c.want) {
			t.Errorf("%s: want an error with %q, got %v", c.config, c.want, res[0].Err)
		}
	}
}

func TestConfigureRejects(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ with, want string }{
		{`{"recipients": [{"email": "a@example.com"}]}`, "documents is required"},
		{`{"documents": [" "], "recipients": [{"email": "a@example.com"}]}`, "give the id of an earlier block"},
		{`{"documents": ["c"], "recipients": []}`, "recipients is required"},
		{`{"documents": ["c"], "recipients": [{"email": "a@example.com"}], "remind_every": "1s"}`, "too often"},
	} {
		err := (&Block{}).Configure(context.Background(), sdk.Config{With: json.RawMessage(c.with)})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want %q, got %v", c.with, c.want, err)
		}
	}
}

func TestDurations(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"720h": 720 * time.Hour, "30d": 720 * time.Hour, "1d12h": 36 * time.Hour, "1.5d": 36 * time.Hour, "90m": 90 * time.Minute} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	if _, err := parseDuration("forever"); err == nil {
		t.Error("forever parsed")
	}
}

// TestResend is what `paperflow signatures resend` would trigger through
// the host's scheduler: a new working link for a recipient who may sign
// now, and nothing for one who may not.
func TestResend(t *testing.T) {
	t.Parallel()
	f := newFixture(t, resolved)
	res := f.process(f.item("1", nil, ""))
	f.links(res[0])
	id := res[0].Outputs["request_id"].(string)
	ctx := context.Background()
	if err := f.block.Scheduled(ctx, "resend/"+id+"/0/1", nil); err != nil {
		t.Fatal(err)
	}
	ada := f.host.mailsTo("ada@example.com")
	if len(ada) != 2 {
		t.Fatalf("mails to Ada: %d, want the invitation and the resent one", len(ada))
	}
	if code, _ := f.get(mailLink(t, ada[1])); code != http.StatusOK {
		t.Errorf("resent link: %d", code)
	}
	// HR cannot sign yet: the callback is dropped (logged), nothing sent.
	if err := f.block.Scheduled(ctx, "resend/"+id+"/1/1", nil); err != nil {
		t.Fatal(err)
	}
	if len(f.host.mailsTo("hr@example.com")) != 0 || len(f.host.Logs()) == 0 {
		t.Errorf("resend to HR before their turn: %d mails, logs %v", len(f.host.mailsTo("hr@example.com")), f.host.Logs())
	}
	// Unknown requests and keys are dropped without an error.
	for _, key := range []string{"resend/nope/0/1", "remind/nope/1", "expire/nope", "bogus"} {
		if err := f.block.Scheduled(ctx, key, nil); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
}
