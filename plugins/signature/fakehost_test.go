package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
)

// fakeHost is an in-memory sdk.Host with the same contracts as the real
// one (compare-and-set KV, idempotent mail, schedules registered once),
// for fast tests of the block's logic. The real host is in engine_test.go.
type fakeHost struct {
	mu        sync.Mutex
	docs      map[string]fakeDoc
	kv        map[string]kvEntry
	rev       uint64
	mails     []sdk.Mail
	mailIDs   map[string]string
	emitted   []emitted
	schedules map[string]time.Time
	logs      []string
}

type fakeDoc struct {
	doc  sdk.Document
	data []byte
}

type kvEntry struct {
	value []byte
	rev   uint64
}

type emitted struct {
	run, item string
	ev        sdk.EventData
}

func newFakeHost() *fakeHost {
	return &fakeHost{docs: map[string]fakeDoc{}, kv: map[string]kvEntry{}, mailIDs: map[string]string{}, schedules: map[string]time.Time{}}
}

var _ sdk.Host = (*fakeHost)(nil)

func (h *fakeHost) PutDocument(_ context.Context, name, mimetype string, data []byte) (sdk.Document, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	id := hex.EncodeToString(raw)
	sum := sha256.Sum256(data)
	d := sdk.Document{ID: id, Name: name, Mimetype: mimetype, URL: "https://sign.example.com/documents/" + id + "/" + url.PathEscape(name) + "?exp=1&sig=x", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	h.docs[id] = fakeDoc{d, bytes.Clone(data)}
	return d, nil
}

func (h *fakeHost) GetDocument(_ context.Context, id string) (sdk.Document, []byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.docs[id]
	if !ok {
		return sdk.Document{}, nil, fmt.Errorf("document %s not found", id)
	}
	return d.doc, bytes.Clone(d.data), nil
}

func (h *fakeHost) DocumentURL(_ context.Context, id string, _ time.Duration) (string, error) {
	return "https://sign.example.com/documents/" + id + "?fresh=1", nil
}

func (h *fakeHost) KVGet(_ context.Context, key string) ([]byte, uint64, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.kv[key]
	return bytes.Clone(e.value), e.rev, ok, nil
}

func (h *fakeHost) KVPut(_ context.Context, key string, value []byte, expect uint64) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.kv[key].rev != expect {
		return 0, sdk.ErrConflict
	}
	h.rev++
	h.kv[key] = kvEntry{bytes.Clone(value), h.rev}
	return h.rev, nil
}

func (h *fakeHost) KVSet(_ context.Context, key string, value []byte) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rev++
	h.kv[key] = kvEntry{bytes.Clone(value), h.rev}
	return h.rev, nil
}

func (h *fakeHost) KVDelete(_ context.Context, key string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.kv, key)
	return nil
}

func (h *fakeHost) SendMail(_ context.Context, m sdk.Mail) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if id, ok := h.mailIDs[m.IdempotencyKey]; ok && m.IdempotencyKey != "" {
		return id, nil
	}
	id := fmt.Sprintf("<%d@test>", len(h.mails)+1)
	h.mails = append(h.mails, m)
	h.mailIDs[m.IdempotencyKey] = id
	return id, nil
}

func (h *fakeHost) Emit(_ context.Context, run, item string, ev sdk.EventData) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// The real host publishes with a deterministic id per (run, item,
	// block, type) and JetStream drops a repeat; so does this one.
	for _, e := range h.emitted {
		if e.run == run && e.item == item && e.ev.Type == ev.Type {
			return "dup", nil
		}
	}
	h.emitted = append(h.emitted, emitted{run, item, ev})
	return "ev", nil
}

func (h *fakeHost) Schedule(_ context.Context, key string, at time.Time, _ []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.schedules[key]; !ok {
		h.schedules[key] = at
	}
	return nil
}

func (h *fakeHost) Log(_ context.Context, level, msg string, attrs map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, fmt.Sprintf("%s %s %v", level, msg, attrs))
}

func (h *fakeHost) mailsTo(addr string) []sdk.Mail {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []sdk.Mail
	for _, m := range h.mails {
		for _, to := range m.To {
			if strings.Contains(to, "<"+addr+">") || to == addr {
				out = append(out, m)
			}
		}
	}
	return out
}

func (h *fakeHost) events(typ string) []emitted {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []emitted
	for _, e := range h.emitted {
		if e.ev.Type == typ {
			out = append(out, e)
		}
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
	f.host.mu.Lock()
	defer f.host.mu.Unlock()
	for k, e := range f.host.kv {
		if strings.HasPrefix(k, "req.") {
			r := &request{}
			if err := json.Unmarshal(e.value, r); err != nil {
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
