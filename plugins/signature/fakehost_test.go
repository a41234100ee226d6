package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/sdktest"
)

// fakeHost is sdktest's in-memory Host (the real host's contracts:
// compare-and-set KV, idempotent mail, schedules registered once) with the
// views these tests read. The real host is in engine_test.go.
type fakeHost struct{ *sdktest.Host }

func newFakeHost() *fakeHost {
	h := sdktest.NewHost()
	h.BaseURL = "https://sign.example.com"
	return &fakeHost{h}
}

// mailsTo returns the mail sent to addr.
func (h *fakeHost) mailsTo(addr string) []sdk.Mail {
	var out []sdk.Mail
	for _, m := range h.MailsTo(addr) {
		out = append(out, m.Mail)
	}
	return out
}

// events returns the emitted events of one type.
func (h *fakeHost) events(typ string) []sdktest.Emitted { return h.Emitted(typ) }

// schedules maps each registered callback key to its time.
func (h *fakeHost) schedules() map[string]time.Time {
	out := map[string]time.Time{}
	for _, s := range h.Schedules() {
		out[s.Key] = s.At
	}
	return out
}

// clock is a settable time for the block.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a configured block on a fake host with one item's document.
type fixture struct {
	t     *testing.T
	host  *fakeHost
	block *Block
	clock *clock
	doc   sdk.Document
	srv   *httptest.Server
}

func newFixture(t *testing.T, with string) *fixture {
	t.Helper()
	h := newFakeHost()
	c := &clock{now: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)}
	b := &Block{now: c.Now}
	if err := b.Configure(context.Background(), sdk.Config{
		Workflow: "hiring", BlockID: "sign", With: json.RawMessage(with), PublicURL: "https://sign.example.com", Host: h,
	}); err != nil {
		t.Fatal(err)
	}
	d, err := h.PutDocument(context.Background(), "Contract Ada.pdf", "application/pdf", testPDF(t, "Contract for Ada"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, host: h, block: b, clock: c, doc: d}
	// Routes as the host mounts them: the block sees the path below
	// /blocks/hiring/sign.
	f.srv = httptest.NewServer(http.StripPrefix("/blocks/hiring/sign", b))
	t.Cleanup(f.srv.Close)
	return f
}

// item is an item whose block "contract" made f.doc.
func (f *fixture) item(id string, fields map[string]any, config string) sdk.Item {
	raw, _ := json.Marshal(fields)
	blocks, _ := json.Marshal(map[string]any{"contract": map[string]any{"documents": []sdk.Document{f.doc}}})
	it := sdk.Item{ID: id, RunID: "run-1", Origin: "people.csv:" + id, RawFields: raw, RawBlocks: blocks}
	if config != "" {
		it.RawConfig = json.RawMessage(config)
	}
	return it
}

func (f *fixture) process(items ...sdk.Item) []sdk.Result {
	f.t.Helper()
	return f.block.Process(context.Background(), items)
}

// links returns the signature_url of each recipient of a
// SIGNATURES_REQUESTED event, checking that it validates.
func (f *fixture) links(res sdk.Result) []string {
	f.t.Helper()
	if res.Err != nil {
		f.t.Fatalf("process: %v", res.Err)
	}
	if len(res.Events) != 1 || res.Events[0].Type != "SIGNATURES_REQUESTED" {
		f.t.Fatalf("events: %+v", res.Events)
	}
	validate(f.t, res.Events[0])
	var data struct {
		Recipients []struct {
			SignatureURL string `json:"signature_url"`
		} `json:"recipients"`
	}
	if err := json.Unmarshal(res.Events[0].Data, &data); err != nil {
		f.t.Fatal(err)
	}
	out := make([]string, len(data.Recipients))
	for i, r := range data.Recipients {
		out[i] = r.SignatureURL
	}
	return out
}

// local turns a public signing URL into one on the test server.
func (f *fixture) local(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.srv.URL + u.Path
}

func (f *fixture) get(link string) (int, string) {
	f.t.Helper()
	resp, err := http.Get(f.local(link))
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var submissionField = regexp.MustCompile(`name="submission" value="([0-9a-f]+)"`)

// submission reads the form nonce from a signing page.
func (f *fixture) submission(link string) string {
	f.t.Helper()
	code, body := f.get(link)
	m := submissionField.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		f.t.Fatalf("signing page: %d\n%s", code, body)
	}
	return m[1]
}

func (f *fixture) post(link string, form url.Values, headers ...string) (int, string) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.local(link), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TestBrowser/1.0")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (f *fixture) sign(link, name string) (int, string) {
	f.t.Helper()
	return f.post(link, url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {name}, "submission": {f.submission(link)}})
}

// request reads the stored state of the only request.
func (f *fixture) request() *request {
	f.t.Helper()
	for k, v := range f.host.State() {
		if strings.HasPrefix(k, "req.") {
			r := &request{}
			if err := json.Unmarshal(v, r); err != nil {
				f.t.Fatal(err)
			}
			return r
		}
	}
	f.t.Fatal("no request stored")
	return nil
}

var validator = func() *events.Validator {
	v, err := events.NewValidator()
	if err != nil {
		panic(err)
	}
	return v
}()

// validate checks an event against the schemas the host enforces.
func validate(t testing.TB, ev sdk.EventData) {
	t.Helper()
	typ, err := events.ParseType(ev.Type)
	if err != nil {
		t.Fatal(err)
	}
	_, raw, err := events.New(events.Metadata{Workflow: "hiring", RunID: "run-1", ItemID: "1", BlockID: "sign", CreatedAt: time.Now().UTC()}, typ, json.RawMessage(ev.Data))
	if err == nil {
		err = validator.Validate(raw)
	}
	if err != nil {
		t.Fatalf("%s event does not validate: %v\n%s", ev.Type, err, ev.Data)
	}
}

// testPDF is a one-page PDF saying text.
func testPDF(t testing.TB, text string) []byte {
	t.Helper()
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetFont("Helvetica", "", 14)
	pdf.AddPage()
	pdf.MultiCell(0, 8, text, "", "L", false)
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var linkPattern = regexp.MustCompile(`https://sign\.example\.com/blocks/hiring/sign/sign/[A-Za-z0-9_-]+`)

// mailLink is the signing link in a mail.
func mailLink(t testing.TB, m sdk.Mail) string {
	t.Helper()
	l := linkPattern.FindString(m.Text)
	if l == "" {
		t.Fatalf("no signing link in mail:\n%s", m.Text)
	}
	return l
}
