package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
	sdkevents "github.com/paperflow/paperflow/plugins/sdk/events"
	"github.com/paperflow/paperflow/plugins/websend"
)

// fieldsContract is the Markdown contract of the fields test: its labels
// are the anchors.
const fieldsContract = `# Employment contract

Dear {{Name}}, this contract is between Example Ltd and you.

Job title: ______________________

Employee signature: ________________________________
`

const fieldsWorkflow = `name: fields
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: contract
    uses: template
    with: {template: contract.md, name: "Contract {{Name}}"}
  - id: sign
    uses: signature
    with:
      documents: [contract]
      recipients:
        - email: "{{Email}}"
          name: "{{Name}}"
          fields:
            - {type: signature, anchor: "Employee signature:", offset_x: 125, offset_y: -16, width: 170, height: 30}
            - {type: text, name: title, label: Job title, anchor: "Job title:", offset_x: 55, offset_y: -6, width: 150, height: 20}
  - id: notify
    uses: webhook
    with:
      url: "HOOK_URL"
      allow_private: true
      events: [SIGNATURE_REQUEST_VIEWED, SIGNATURES_COMPLETED, SIGNATURES_DECLINED, SIGNATURES_EXPIRED]
      retry: [10ms, 10ms]
`

// hookReceiver is a webhook endpoint on 127.0.0.1 that keeps what it gets.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string][][]byte // by eventType
	got    chan struct{}
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{bodies: map[string][][]byte{}, got: make(chan struct{}, 100)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var env struct {
			EventType string `json:"eventType"`
		}
		_ = json.Unmarshal(body, &env)
		h.mu.Lock()
		h.bodies[env.EventType] = append(h.bodies[env.EventType], body)
		h.mu.Unlock()
		h.got <- struct{}{}
	}))
	t.Cleanup(h.Close)
	return h
}

// await waits until an event of typ for item has arrived.
func (h *hookReceiver) await(t *testing.T, typ, item string) []byte {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		h.mu.Lock()
		for _, b := range h.bodies[typ] {
			if strings.Contains(string(b), `"item_id":"`+item+`"`) {
				h.mu.Unlock()
				return b
			}
		}
		h.mu.Unlock()
		select {
		case <-h.got:
		case <-timeout:
			t.Fatalf("no %s for item %s reached the webhook receiver", typ, item)
		}
	}
}

// startWebhook starts the workflow's webhook sink as `paperflow serve`
// does: the block process and a durable consumer delivering to it.
func (env *hostEnv) startWebhook(t *testing.T, wf *workflow.Workflow, id string) {
	t.Helper()
	ctx := context.Background()
	def := wf.Block(id)
	blk, err := pluginhost.Start(ctx, pluginhost.Spec{
		Instance: pluginhost.Instance{Workflow: wf.Name, BlockID: def.ID}, Uses: def.Uses, Path: filepath.Join(env.plugins, def.Uses),
		Config: def.ConfigJSON(), WorkflowDir: wf.Dir, PublicURL: env.url,
	}, env.engine, env.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(blk.Close)
	tgt, err := delivery.SinkTarget(wf.Name, def.ID, blk)
	if err != nil {
		t.Fatal(err)
	}
	d, err := delivery.Start(ctx, delivery.Options{JS: env.bus.JS, Log: env.log, AckWait: 5 * time.Second, StopGrace: 2 * time.Second}, tgt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
}

// wordBox is a word as pdftotext -bbox -cropbox reports it: points from
// the top-left corner of the page as shown (crop box, /Rotate applied).
type wordBox struct {
	Page                   int
	XMin, YMin, XMax, YMax float64
	Text                   string
}

func pdfWords(t *testing.T, pdf []byte) []wordBox {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext not installed (apt-get install poppler-utils)")
	}
	path := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-bbox", "-cropbox", "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext -bbox: %v", err)
	}
	dec := xml.NewDecoder(bytes.NewReader(out))
	dec.Strict = false
	var words []wordBox
	page := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return words
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "page":
			page++
		case "word":
			w := wordBox{Page: page}
			for _, a := range se.Attr {
				f, _ := strconv.ParseFloat(a.Value, 64)
				switch a.Name.Local {
				case "xMin":
					w.XMin = f
				case "yMin":
					w.YMin = f
				case "xMax":
					w.XMax = f
				case "yMax":
					w.YMax = f
				}
			}
			_ = dec.DecodeElement(&w.Text, &se)
			words = append(words, w)
		}
	}
}

// phrases finds every run of the words of s in a row and returns their
// joint boxes, in reading order.
func phrases(words []wordBox, s string) []wordBox {
	parts := strings.Fields(s)
	var out []wordBox
	for i := 0; i+len(parts) <= len(words); i++ {
		ok := true
		for k, p := range parts {
			ok = ok && words[i+k].Text == p
		}
		if !ok {
			continue
		}
		b := words[i]
		for _, w := range words[i+1 : i+len(parts)] {
			b.XMin, b.YMin, b.XMax, b.YMax = min(b.XMin, w.XMin), min(b.YMin, w.YMin), max(b.XMax, w.XMax), max(b.YMax, w.YMax)
		}
		b.Text = s
		out = append(out, b)
	}
	return out
}

// phrase is the first of phrases.
func phrase(words []wordBox, s string) (wordBox, bool) {
	if all := phrases(words, s); len(all) > 0 {
		return all[0], true
	}
	return wordBox{}, false
}

// drawnNear is the occurrence of s in after, and not in before at the
// same place, nearest to x, y on page: the value drawn into a field there,
// rather than the same words elsewhere (a name in the text or the stamp).
func drawnNear(before, after []wordBox, s string, page int, x, y float64) (wordBox, bool) {
	var best wordBox
	found := false
	for _, v := range phrases(after, s) {
		old := v.Page != page
		for _, o := range phrases(before, s) {
			old = old || (o.Page == v.Page && math.Abs(o.XMin-v.XMin) < 0.5 && math.Abs(o.YMin-v.YMin) < 0.5)
		}
		if old {
			continue
		}
		if !found || math.Hypot(v.XMin-x, v.YMin-y) < math.Hypot(best.XMin-x, best.YMin-y) {
			best, found = v, true
		}
	}
	return best, found
}

// TestBrowserFields runs csv → template (Markdown with anchors) →
// signature with fields → webhook through the real engine and block
// processes. Ada sees her contract as page images with the fields in
// place, at 1280 and at 390 px, fills them in Chromium and signs; the
// sealed PDF has her typed signature and job title in the anchors' boxes
// and a valid signature. Bob declines, Cara's request expires; the viewed,
// declined, expired and completed events validate and reach a real
// webhook receiver.
func TestBrowserFields(t *testing.T) {
	env := newHostEnv(t)
	hook := newHookReceiver(t)
	ctx := hosttest.Browser(t, phone)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "contract.md"), []byte(fieldsContract), 0o644); err != nil {
		t.Fatal(err)
	}
	wf := env.load(t, strings.Replace(strings.Replace(fieldsWorkflow, "HOOK_URL", hook.URL+"/hook", 1), "contract.md", filepath.Join(dir, "contract.md"), 1),
		"Name,Email\nAda Lovelace,ada@example.com\nBob Decliner,bob@example.com\nCara Late,cara@example.com\n")
	env.startWebhook(t, wf, "notify")
	sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Succeeded != 3 {
		t.Fatalf("run: %+v", sum)
	}
	blk := env.serveBlock(t, wf, "sign")
	ada := env.outboxLinks(t, "ada@example.com")
	if len(ada) != 1 {
		t.Fatalf("invitations to Ada: %d", len(ada))
	}

	// At 1280 px: the page image loads and each field sits on it.
	hosttest.Do(t, ctx, "open Ada's link at 1280 px", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(ada[0]),
		chromedp.WaitVisible(chromedp.CSS(".field.sig")))
	checkOverlay(t, ctx, 1280, 2)
	// At 390 px: the same, within the screen's width; then fill and sign.
	signFieldsAt390(t, ctx, ada[0], "Ada Lovelace", map[string]string{"title": "Chief Analyst"}, 2, func() {
		if n := pageImageKeys(t, env, wf, requestID(wf.Name, "sign", sum.RunID, "1")); n == 0 {
			t.Error("no page image of Ada's request is cached in the KV while it is open")
		}
	})

	// The events reach the webhook and validate.
	viewed := hook.await(t, "SIGNATURE_REQUEST_VIEWED", "1")
	completed := hook.await(t, "SIGNATURES_COMPLETED", "1")
	for _, raw := range [][]byte{viewed, completed} {
		if err := env.engine.Validator().Validate(raw); err != nil {
			t.Errorf("does not validate: %v\n%s", err, raw)
		}
	}
	if !strings.Contains(string(viewed), `"email":"ada@example.com"`) || !strings.Contains(string(viewed), "HeadlessChrome") || !strings.Contains(string(viewed), `"ip":"127.0.0.1"`) {
		t.Errorf("viewed event: %s", viewed)
	}
	var done struct {
		Data struct {
			Documents []struct{ ID string }  `json:"documents"`
			Fields    []sdkevents.FieldValue `json:"fields"`
		} `json:"data"`
	}
	if err := json.Unmarshal(completed, &done); err != nil {
		t.Fatal(err)
	}
	want := []sdkevents.FieldValue{
		{Email: "ada@example.com", Name: "signature", Type: "signature", Value: "Ada Lovelace"},
		{Email: "ada@example.com", Name: "title", Type: "text", Value: "Chief Analyst"},
	}
	if fmt.Sprint(done.Data.Fields) != fmt.Sprint(want) {
		t.Errorf("completed fields: %+v, want %+v", done.Data.Fields, want)
	}

	// The sealed PDF: each value inside its field's box, which is the
	// anchor's box (as pdftotext finds it in the original) moved by the
	// offsets; and a valid signature.
	checkFieldsDrawn(t, env, wf, sum.RunID, "1", done.Data.Documents[0].ID, []drawnField{
		{"Employee signature:", "Ada Lovelace", 125, -16, 170, 30},
		{"Job title:", "Chief Analyst", 55, -6, 150, 20},
	})

	// Bob and Cara have their first pages shown (cached in the KV); Bob
	// opens his link and declines (plain HTTP, as a browser posts).
	bob := env.outboxLinks(t, "bob@example.com")[0]
	cara := env.outboxLinks(t, "cara@example.com")[0]
	for item, link := range map[string]string{"2": bob, "3": cara} {
		if img := httpGet(t, pageImageURL(link, 0, 1, 480)); !strings.HasPrefix(img, "\x89PNG") {
			t.Fatalf("page image of item %s: %.200q", item, img)
		}
		if n := pageImageKeys(t, env, wf, requestID(wf.Name, "sign", sum.RunID, item)); n != 1 {
			t.Errorf("page images of item %s in the KV: %d, want 1", item, n)
		}
	}
	page := httpGet(t, bob)
	m := submissionField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("Bob's page:\n%s", page)
	}
	resp, err := http.PostForm(bob, url.Values{"action": {"decline"}, "reason": {"Wrong title"}, "submission": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Cara's request runs out: the host's expiry callback, called now.
	if err := blk.Scheduled(context.Background(), "expire/"+requestID(wf.Name, "sign", sum.RunID, "3"), nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ typ, item, want string }{
		{"SIGNATURE_REQUEST_VIEWED", "2", `"email":"bob@example.com"`},
		{"SIGNATURES_DECLINED", "2", `"reason":"Wrong title"`},
		{"SIGNATURES_EXPIRED", "3", `"status":"PENDING"`},
	} {
		raw := hook.await(t, c.typ, c.item)
		if err := env.engine.Validator().Validate(raw); err != nil {
			t.Errorf("%s does not validate: %v\n%s", c.typ, err, raw)
		}
		if !strings.Contains(string(raw), c.want) {
			t.Errorf("%s lacks %s: %s", c.typ, c.want, raw)
		}
	}
	// A request's page images leave the KV when it ends: completed,
	// declined, expired (each removed before the final event goes out).
	for _, item := range []string{"1", "2", "3"} {
		if n := pageImageKeys(t, env, wf, requestID(wf.Name, "sign", sum.RunID, item)); n != 0 {
			t.Errorf("page images of item %s left in the KV after its request ended: %d", item, n)
		}
	}
	if got := fmt.Sprint(websend.DefaultEvents); got != "[DOCUMENTS_CREATED EMAILS_CREATED SIGNATURES_REQUESTED SIGNATURES_COMPLETED]" {
		t.Errorf("the webhook's default events changed: %s", got)
	}
}

// signFieldsAt390 opens link in Chromium at 390 px, checks that the page
// images show with the request's fields (want of them) on the first one
// and that the page fits the screen, runs also (when not nil), then types
// values into the fields (by field name), ticks the consent box, types
// name and signs as the last recipient.
func signFieldsAt390(t *testing.T, ctx context.Context, link, name string, values map[string]string, want int, also func()) {
	t.Helper()
	hosttest.Do(t, ctx, "open the link at 390 px", chromedp.EmulateViewport(390, 844), chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(".field.sig")))
	checkOverlay(t, ctx, 390, want)
	if !hosttest.Read(t, ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`)) {
		t.Error("the signing page is wider than a 390 px phone screen")
	}
	if also != nil {
		also()
	}
	var steps []chromedp.Action[chromedp.Void]
	for field, v := range values {
		steps = append(steps, chromedp.SendKeys(chromedp.CSS(`input.field[data-field="`+field+`"]`), v))
	}
	steps = append(steps,
		chromedp.Click(chromedp.ID("consent")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.Click(chromedp.ID("sign")),
		chromedp.WaitVisible(chromedp.ID("outcome")),
	)
	hosttest.Do(t, ctx, "fill in and sign as "+name, steps...)
	if outcome := hosttest.Read(t, ctx, chromedp.Text(chromedp.ID("outcome"))); !strings.Contains(outcome, "Everyone has signed") {
		t.Fatalf("after signing: %s", outcome)
	}
}

// drawnField is a value the signer typed and the anchor its field is
// placed by: the field's box is the anchor's box as pdftotext finds it in
// the original, moved by the offsets, of the field's size.
type drawnField struct {
	anchor, value             string
	offX, offY, width, height float64
}

// checkFieldsDrawn checks the sealed PDF signedID of an item's request:
// each value inside its field's box (± 5 pt), and a valid signature.
func checkFieldsDrawn(t *testing.T, env *hostEnv, wf *workflow.Workflow, runID, item, signedID string, fields []drawnField) {
	t.Helper()
	_, signed, err := env.engine.Documents().Get(context.Background(), signedID)
	if err != nil {
		t.Fatal(err)
	}
	req := requestOf(t, env, wf, runID, item)
	_, original, err := env.engine.Documents().Get(context.Background(), req.Documents[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	before, after := pdfWords(t, original), pdfWords(t, signed)
	for _, c := range fields {
		a, ok := phrase(before, c.anchor)
		if !ok {
			t.Fatalf("anchor %q not in the original's text", c.anchor)
		}
		x, y := a.XMin+c.offX, a.YMin+c.offY
		v, ok := drawnNear(before, after, c.value, a.Page, x, y)
		if !ok {
			t.Fatalf("%q is not drawn on page %d of the sealed PDF", c.value, a.Page)
		}
		if v.Page != a.Page || !inBox(v, x, y, c.width, c.height) {
			t.Errorf("%q drawn at page %d [%.1f %.1f – %.1f %.1f]; its box is page %d [%.1f %.1f – %.1f %.1f]",
				c.value, v.Page, v.XMin, v.YMin, v.XMax, v.YMax, a.Page, x, y, x+c.width, y+c.height)
		}
	}
	checkSignedPDFValid(t, signed)
}

// inBox says whether word v lies in the box at x, y of w × h points, give
// or take 5 points (a typed value's glyphs against the field it fills).
func inBox(v wordBox, x, y, w, h float64) bool {
	const tol = 5
	return v.XMin >= x-tol && v.XMax <= x+w+tol && v.YMin >= y-tol && v.YMax <= y+h+tol
}

// checkOverlay checks that the first page image has loaded at a width for
// the screen and that every field (want of them) lies on it where the
// request put it.
func checkOverlay(t *testing.T, ctx context.Context, screen, want int) {
	t.Helper()
	type geo struct {
		Loaded, Inside bool
		Natural, Shown float64
		Fields         int
		Src            string
	}
	g := hosttest.Read(t, ctx, chromedp.Poll[geo](`(() => {
	  const img = document.querySelector(".page img");
	  if (!img || !img.complete || img.naturalWidth === 0) { return null; }
	  const r = img.getBoundingClientRect();
	  let inside = true, n = 0;
	  document.querySelectorAll(".page .field").forEach(f => {
	    const b = f.getBoundingClientRect(); n++;
	    inside = inside && b.width > 4 && b.height > 4 && b.left >= r.left - 1 && b.right <= r.right + 1 && b.top >= r.top - 1 && b.bottom <= r.bottom + 1;
	  });
	  return {Loaded: true, Inside: inside, Natural: img.naturalWidth, Shown: r.width, Fields: n, Src: img.currentSrc};
	})()`))
	if !g.Inside || g.Fields != want {
		t.Errorf("at %d px: fields %d, inside the page: %v", screen, g.Fields, g.Inside)
	}
	if g.Shown > float64(screen) || g.Natural < g.Shown || g.Natural > 4*g.Shown {
		t.Errorf("at %d px: page image %v px wide, shown at %v px", screen, g.Natural, g.Shown)
	}
	if !strings.Contains(g.Src, "?w=") {
		t.Errorf("at %d px: page image %s", screen, g.Src)
	}
	t.Logf("at %d px: page image %s shown %.0f px wide", screen, g.Src[strings.LastIndex(g.Src, "/"):], g.Shown)
}

// pageImageURL is the URL of page p of document n, w pixels wide, for the
// signing link link.
func pageImageURL(link string, n, p, w int) string {
	i := strings.LastIndex(link, "/sign/")
	return fmt.Sprintf("%s/page/%s/%d/%d?w=%d", link[:i], link[i+len("/sign/"):], n, p, w)
}

// pageImageKeys counts the page images of request id in the block's
// state, listed through the host's KV bucket.
func pageImageKeys(t *testing.T, env *hostEnv, wf *workflow.Workflow, id string) int {
	t.Helper()
	lister, err := env.engine.State().ListKeysFiltered(context.Background(), wf.Name+".sign."+pagePrefix(id)+">")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range lister.Keys() {
		n++
	}
	return n
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// requestOf reads an item's stored request from the block's KV bucket.
func requestOf(t *testing.T, env *hostEnv, wf *workflow.Workflow, runID, item string) *request {
	t.Helper()
	e, err := env.engine.State().Get(context.Background(), wf.Name+".sign."+requestKey(requestID(wf.Name, "sign", runID, item)))
	if err != nil {
		t.Fatal(err)
	}
	raw := e.Value()
	r := &request{}
	if err := json.Unmarshal(raw, r); err != nil {
		t.Fatal(err)
	}
	return r
}

// checkSignedPDFValid checks the digital signature with pdfsig.
func checkSignedPDFValid(t *testing.T, pdf []byte) {
	t.Helper()
	report, ok := runPdfsig(t, pdf)
	if !ok {
		t.Skip("pdfsig not installed (apt-get install poppler-utils)")
	}
	if !strings.Contains(report, "Signature Validation: Signature is Valid.") {
		t.Errorf("pdfsig:\n%s", report)
	}
}

// TestFieldConfigErrorsArePositioned: a mistake in fields is reported by
// the workflow loader (paperflow validate) at its line and column.
func TestFieldConfigErrorsArePositioned(t *testing.T) {
	env := newHostEnv(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "wf.yaml")
	wf := `name: bad
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: contract
    uses: makepdf
  - id: sign
    uses: signature
    with:
      documents: [contract]
      recipients:
        - email: ada@example.com
          fields:
            - {type: stamp, anchor: "Sign:"}
            - {type: signature, anchor: "Sign:", page: 2, x: 1, y: 1}
            - {type: text}
`
	_ = os.WriteFile(filepath.Join(dir, "items.csv"), []byte("Name\nA\n"), 0o644)
	if err := os.WriteFile(file, []byte(wf), 0o644); err != nil {
		t.Fatal(err)
	}
	_, problems := workflow.Load(file, env.engine.Catalog())
	var lines []string
	for _, p := range problems {
		lines = append(lines, p.String())
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{"wf.yaml:13:", "wf.yaml:14:", "wf.yaml:15:", "fields[0].type", "fields[1]"} {
		if !strings.Contains(text, want) {
			t.Errorf("problems lack %q:\n%s", want, strings.ReplaceAll(text, "wf.yaml", "\nwf.yaml"))
		}
	}
	t.Logf("%d problems: %s", len(problems), text)
}
