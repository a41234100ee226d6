package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	sdkevents "github.com/paperflow/paperflow/plugins/sdk/events"
	"github.com/paperflow/paperflow/plugins/signature/pdfsign"
)

const verifyConfig = `{
  "documents": ["contract"],
  "recipients": [{"email": "ada@example.com", "name": "Ada Lovelace", "verify": "email",
    "fields": [{"type": "signature", "anchor": "Contract", "offset_y": 30, "width": 150, "height": 30}]}]
}`

var codeInMail = regexp.MustCompile(`\b[0-9]{6}\b`)

// browserClient keeps cookies, as a browser does, and does not follow
// redirects, so a test sees them.
func browserClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, method, u string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestVerifyByEmailCode: the document stays hidden until the code mailed
// to the recipient is typed in; five wrong codes lock the link for
// verifyLockout, even against the right code; after that a new code opens
// it, and all of it is in the audit trail.
func TestVerifyByEmailCode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, verifyConfig)
	// The session cookie is Secure on an https public URL; the test
	// server speaks plain http.
	f.block.cfg.PublicURL = "http://sign.example.com"
	link := f.local(f.links(f.process(f.item("1", nil, ""))[0])[0])
	c := browserClient(t)
	tok := link[strings.LastIndex(link, "/")+1:]
	base := strings.TrimSuffix(link, "sign/"+tok)

	code, page := do(t, c, http.MethodGet, link, nil)
	if code != http.StatusForbidden || !strings.Contains(page, "Email me a code") || strings.Contains(page, "../page/") {
		t.Fatalf("before verification: %d\n%s", code, page)
	}
	for _, hidden := range []string{base + "page/" + tok + "/0/1?w=480", base + "doc/" + tok + "/0"} {
		if code, _ := do(t, c, http.MethodGet, hidden, nil); code != http.StatusForbidden {
			t.Errorf("%s before verification: %d", hidden, code)
		}
	}
	if code, _ := do(t, c, http.MethodPost, link, url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"Ada"}}); code != http.StatusForbidden {
		t.Errorf("sign before verification: %d", code)
	}
	sendCode := func() string {
		t.Helper()
		n := len(f.host.mailsTo("ada@example.com"))
		if code, page := do(t, c, http.MethodPost, link, url.Values{"action": {"send-code"}}); code != http.StatusOK || !strings.Contains(page, `id="code"`) {
			t.Fatalf("send a code: %d\n%s", code, page)
		}
		mails := f.host.mailsTo("ada@example.com")
		if len(mails) != n+1 {
			t.Fatalf("mails after asking for a code: %d, want %d", len(mails), n+1)
		}
		return codeInMail.FindString(mails[len(mails)-1].Text)
	}
	right := sendCode()
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	for i := 1; i <= verifyAttempts; i++ {
		code, page := do(t, c, http.MethodPost, link, url.Values{"action": {"verify"}, "code": {wrong}})
		if i < verifyAttempts && (code != http.StatusUnprocessableEntity || !strings.Contains(page, "not right")) {
			t.Fatalf("wrong code %d: %d\n%s", i, code, page)
		}
		if i == verifyAttempts && (code != http.StatusTooManyRequests || !strings.Contains(page, "locked until")) {
			t.Fatalf("wrong code %d: %d\n%s", i, code, page)
		}
	}
	if code, page := do(t, c, http.MethodPost, link, url.Values{"action": {"verify"}, "code": {right}}); code != http.StatusTooManyRequests {
		t.Fatalf("right code while locked: %d\n%s", code, page)
	}
	if code, _ := do(t, c, http.MethodGet, link, nil); code != http.StatusForbidden {
		t.Fatalf("page while locked: %d", code)
	}

	f.clock.Add(verifyLockout)
	right = sendCode()
	code, _ = do(t, c, http.MethodPost, link, url.Values{"action": {"verify"}, "code": {right[:3] + " " + right[3:]}})
	if code != http.StatusSeeOther {
		t.Fatalf("right code: %d", code)
	}
	code, page = do(t, c, http.MethodGet, link, nil)
	if code != http.StatusOK || !strings.Contains(page, "../page/") || !strings.Contains(page, `class="field sig"`) {
		t.Fatalf("page after verification: %d\n%s", code, page)
	}
	// Another browser with the same link still needs a code.
	if code, _ := do(t, browserClient(t), http.MethodGet, link, nil); code != http.StatusForbidden {
		t.Errorf("a second browser: %d", code)
	}
	trail := trailText(f.request().Trail)
	for _, want := range []string{"Verification code sent to ada@example.com", "Wrong verification code for ada@example.com (1 of 5)",
		"locked for 15m0s after 5 wrong codes", "ada@example.com verified by an emailed code", "Opened by ada@example.com"} {
		if !strings.Contains(trail, want) {
			t.Errorf("audit trail lacks %q:\n%s", want, trail)
		}
	}
	if f.request().Recipients[0].VerifiedAt.IsZero() {
		t.Error("verified_at not recorded")
	}
}

// TestFieldsNeedValues: a required field left empty keeps the request
// open; filled in, the values are stored, in the trail and in
// SIGNATURES_COMPLETED.
func TestFieldsNeedValues(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"documents": ["contract"], "recipients": [{"email": "ada@example.com", "name": "Ada Lovelace",
	  "fields": [{"type": "signature", "anchor": "Contract"}, {"type": "text", "name": "title", "label": "Job title", "page": 1, "x": 300, "y": 400},
	    {"type": "initials", "page": 1, "x": 300, "y": 500}, {"type": "checkbox", "name": "agree", "page": 1, "x": 300, "y": 600},
	    {"type": "date", "page": 1, "x": 100, "y": 700}]}]}`)
	link := f.links(f.process(f.item("1", nil, ""))[0])[0]
	r := f.request()
	if len(r.Fields) != 5 || len(r.Fields[0].Places) != 1 || r.Documents[0].Pages[0].W < 590 {
		t.Fatalf("fields: %+v pages %+v", r.Fields, r.Documents[0].Pages)
	}
	_, page := f.get(link)
	if !strings.Contains(page, `value="AL"`) {
		t.Error("initials are not prefilled")
	}
	code, body := f.post(link, url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"Ada Lovelace"}, "submission": {f.submission(link)}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "Fill in “Job title”") {
		t.Fatalf("without the title: %d", code)
	}
	code, body = f.post(link, url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"Ada Lovelace"}, "field.title": {"Analyst"},
		"field.initials": {"A.L."}, "field.agree": {"yes"}, "submission": {f.submission(link)}})
	if code != http.StatusOK || !strings.Contains(body, "Everyone has signed") {
		t.Fatalf("sign: %d\n%s", code, body)
	}
	done := f.host.events("SIGNATURES_COMPLETED")
	if len(done) != 1 {
		t.Fatalf("completed events: %d", len(done))
	}
	validate(t, done[0].EventData)
	var data struct {
		Documents []struct{ ID string }
		Fields    []sdkevents.FieldValue
	}
	_ = json.Unmarshal(done[0].Data, &data)
	got := map[string]string{}
	for _, fv := range data.Fields {
		got[fv.Name] = fv.Value
	}
	if got["signature"] != "Ada Lovelace" || got["title"] != "Analyst" || got["initials"] != "A.L." || got["agree"] != "yes" || got["date"] != "2026-03-14" {
		t.Errorf("values: %v", got)
	}
	if trail := trailText(f.request().Trail); !strings.Contains(trail, `filled in Job title (title): "Analyst"`) {
		t.Errorf("trail:\n%s", trail)
	}
	_, signed, err := f.host.GetDocument(context.Background(), data.Documents[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pdfsign.Verify(signed); err != nil {
		t.Error(err)
	}
}

// TestAnchorNotFoundFailsTheItem names the anchor and the document.
func TestAnchorNotFoundFailsTheItem(t *testing.T) {
	t.Parallel()
	f := newFixture(t, `{"documents": ["contract"], "recipients": [{"email": "ada@example.com", "fields": [{"type": "signature", "anchor": "[sign here]"}]}]}`)
	res := f.process(f.item("1", nil, ""))
	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), `"[sign here]" is in none of the documents (Contract Ada.pdf)`) {
		t.Fatalf("error: %v", res[0].Err)
	}
	f = newFixture(t, `{"documents": ["contract"], "recipients": [{"email": "ada@example.com", "fields": [{"type": "text", "page": 3, "x": 1, "y": 1}]}]}`)
	if res := f.process(f.item("1", nil, "")); res[0].Err == nil || !strings.Contains(res[0].Err.Error(), `page: 3, but "Contract Ada.pdf" has 1 pages`) {
		t.Fatalf("error: %v", res[0].Err)
	}
}

// TestPageImagesOnlyWhileOpen: a page image is cached while its request is
// open and dropped when the request ends, however it ends; one rendered
// as the request ended (stored after the drop) is removed again.
func TestPageImagesOnlyWhileOpen(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		end string
		do  func(f *fixture, link, id string)
	}{
		{"completed", func(f *fixture, link, _ string) {
			if code, body := f.sign(link, "Ada Lovelace"); code != http.StatusOK || !strings.Contains(body, "Everyone has signed") {
				t.Fatalf("sign: %d\n%s", code, body)
			}
		}},
		{"declined", func(f *fixture, link, _ string) {
			if code, _ := f.post(link, url.Values{"action": {"decline"}, "reason": {"No"}, "submission": {f.submission(link)}}); code != http.StatusOK {
				t.Fatalf("decline: %d", code)
			}
		}},
		{"expired", func(f *fixture, _, id string) {
			f.clock.Add(DefaultExpiry)
			if err := f.block.Scheduled(context.Background(), "expire/"+id, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"cancelled", func(f *fixture, _, id string) {
			if _, err := f.block.cancel(context.Background(), id, ""); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.end, func(t *testing.T) {
			f := newFixture(t, `{"documents": ["contract"], "recipients": [{"email": "ada@example.com", "name": "Ada Lovelace"}]}`)
			link := f.links(f.process(f.item("1", nil, ""))[0])[0]
			id := f.request().ID
			images := func() []string {
				var keys []string
				for k := range f.host.State() {
					if strings.HasPrefix(k, pagePrefix(id)) {
						keys = append(keys, k)
					}
				}
				return keys
			}
			if code, img := f.get(pageImageURL(link, 0, 1, 480)); code != http.StatusOK || !strings.HasPrefix(img, "\x89PNG") {
				t.Fatalf("page image: %d %.100q", code, img)
			}
			if keys := images(); len(keys) != 1 {
				t.Fatalf("cached page images while open: %v", keys)
			}
			c.do(f, link, id)
			if st := f.request().Status; st != c.end {
				t.Fatalf("request %s, want %s", st, c.end)
			}
			if keys := images(); len(keys) != 0 {
				t.Fatalf("page images left after the request ended: %v", keys)
			}
			f.block.keepPage(context.Background(), f.request(), pageKey(id, 0, 1, 480), []byte("\x89PNG late"))
			if keys := images(); len(keys) != 0 {
				t.Errorf("a page image stored after the request ended was kept: %v", keys)
			}
		})
	}
}
