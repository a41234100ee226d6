package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/plugins/signature/pdfsign"
)

// phone is the browser of the signing pages' tests: hosttest's
// phone-sized window, and 90 seconds for all a test does in it.
var phone = hosttest.BrowserOptions{Timeout: 90 * time.Second}

func pressed(p *input.DispatchMouseEventParams) { p.Buttons = 1 }

// draw strokes a zigzag across the signature canvas with real mouse input.
func draw(sel string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		box, err := chromedp.Evaluate[struct{ X, Y, W, H float64 }](`(() => { const r = document.querySelector("`+sel+`").getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width, H: r.height}; })()`)(ctx, t)
		if err != nil {
			return chromedp.Void{}, err
		}
		x, y := box.X+box.W*0.1, box.Y+box.H*0.5
		steps := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(chromedp.MousePressed, x, y, chromedp.ButtonLeft, pressed, chromedp.ClickCount(1))}
		for i := 1; i <= 16; i++ {
			dy := box.H * 0.25
			if i%2 == 0 {
				dy = -dy
			}
			steps = append(steps, chromedp.MouseEvent(chromedp.MouseMoved, x+box.W*0.05*float64(i), y+dy, chromedp.ButtonLeft, pressed))
		}
		steps = append(steps, chromedp.MouseEvent(chromedp.MouseReleased, x+box.W*0.8, y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
		return chromedp.Steps(steps...)(ctx, t)
	}
}

// TestBrowserSigning runs csv → makepdf → signature through the real engine
// and block processes, then signs in headless Chromium as recipient 1 and,
// once invited, as recipient 2, and checks the events and the signed PDF;
// a second item is declined.
func TestBrowserSigning(t *testing.T) {
	env := newHostEnv(t)
	ctx := hosttest.Browser(t, phone)
	wf := env.load(t, signWorkflow, "Name,Email\n<script>window.pwned=1</script> Ada,ada@example.com\nBob Decliner,bob@example.com\n")
	sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Succeeded != 2 || sum.Events["SIGNATURES_REQUESTED"] != 2 {
		t.Fatalf("run: %+v", sum)
	}
	env.serveBlock(t, wf, "sign")

	ada := env.outboxLinks(t, "ada@example.com")
	if len(ada) != 1 {
		t.Fatalf("invitations to Ada: %d, want 1", len(ada))
	}
	if hr := env.outboxLinks(t, "hr@example.com"); len(hr) != 0 {
		t.Fatalf("HR (order 2) was invited before Ada (order 1) signed: %v", hr)
	}

	// Recipient 1: the item's name is shown as text, never run.
	hosttest.Do(t, ctx, "open Ada's link", chromedp.Navigate(ada[0]), chromedp.WaitVisible(chromedp.ID("consent")))
	body := hosttest.Read(t, ctx, chromedp.Text(chromedp.CSS("body")))
	pwned := hosttest.Read(t, ctx, chromedp.Evaluate[string](`typeof window.pwned`))
	fits := hosttest.Read(t, ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	if !strings.Contains(body, "Hello <script>window.pwned=1</script> Ada") || pwned != "undefined" {
		t.Errorf("the <script> name: pwned=%s, page text:\n%s", pwned, body)
	}
	if !fits {
		t.Error("the signing page is wider than a 390 px phone screen")
	}
	// The document shows as page images rendered by the block (same
	// origin, allowed by the page's Content-Security-Policy).
	loaded := hosttest.Read(t, ctx, chromedp.Poll[bool](`(() => { const i = document.querySelector(".page img"); return i && i.complete && i.naturalWidth > 0 ? true : null; })()`))
	if !loaded {
		t.Error("the first page image did not load")
	}
	hosttest.Do(t, ctx, "sign as Ada",
		chromedp.Click(chromedp.ID("consent")),
		chromedp.SendKeys(chromedp.ID("name"), "Ada Lovelace"),
		chromedp.Click(chromedp.CSS("#draw summary")),
		chromedp.WaitVisible(chromedp.ID("pad")),
		draw("#pad"),
		chromedp.Click(chromedp.ID("sign")),
		chromedp.WaitVisible(chromedp.ID("outcome")),
	)
	outcome := hosttest.Read(t, ctx, chromedp.Text(chromedp.ID("outcome")))
	if !strings.Contains(outcome, "Thank you, Ada Lovelace") {
		t.Fatalf("after signing as Ada: %s", outcome)
	}
	if n := len(ofType(env.published(t, sum.RunID), "SIGNATURES_COMPLETED", "")); n != 0 {
		t.Fatalf("%d SIGNATURES_COMPLETED after the first of two signatures", n)
	}

	// Recipient 2 is invited now, and only now.
	hr := env.outboxLinks(t, "hr@example.com")
	if len(hr) != 1 {
		t.Fatalf("invitations to HR after Ada signed: %d, want 1 (item 1 only)", len(hr))
	}
	hosttest.Do(t, ctx, "sign as HR",
		chromedp.Navigate(hr[0]),
		chromedp.WaitVisible(chromedp.ID("consent")),
		chromedp.Click(chromedp.ID("consent")),
		chromedp.SendKeys(chromedp.ID("name"), "Grace Hopper"),
		chromedp.Click(chromedp.ID("sign")),
		chromedp.WaitVisible(chromedp.ID("outcome")),
	)
	outcome = hosttest.Read(t, ctx, chromedp.Text(chromedp.ID("outcome")))
	if !strings.Contains(outcome, "Everyone has signed") {
		t.Fatalf("after signing as HR: %s", outcome)
	}

	// A used link gets the plain error page.
	hosttest.Do(t, ctx, "reuse Ada's link", chromedp.Navigate(ada[0]), chromedp.WaitVisible(chromedp.ID("outcome")))
	body = hosttest.Read(t, ctx, chromedp.Text(chromedp.CSS("body")))
	if !strings.Contains(body, "already been used") || strings.Contains(body, "Contract") {
		t.Errorf("reused link page:\n%s", body)
	}

	// Exactly one SIGNATURES_COMPLETED, valid, with the sealed PDF.
	evs := env.published(t, sum.RunID)
	done := ofType(evs, "SIGNATURES_COMPLETED", "")
	if len(done) != 1 || done[0].Metadata.ItemID != "1" {
		t.Fatalf("SIGNATURES_COMPLETED events: %d, want 1 for item 1", len(done))
	}
	if err := env.engine.Validator().Validate(done[0].raw); err != nil {
		t.Errorf("SIGNATURES_COMPLETED does not validate: %v", err)
	}
	var data struct {
		Documents []struct {
			ID, URL, Name string
		} `json:"documents"`
		Recipients []struct {
			Email  string `json:"email"`
			Status string `json:"status"`
		} `json:"recipients"`
	}
	if err := json.Unmarshal(done[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Documents) != 1 || len(data.Recipients) != 2 || data.Recipients[0].Status != "COMPLETED" || data.Recipients[1].Status != "COMPLETED" {
		t.Fatalf("completed event data: %s", done[0].Data)
	}
	_, signed, err := env.engine.Documents().Get(context.Background(), data.Documents[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	checkSignedPDF(t, signed, "Ada Lovelace", "Grace Hopper", "HeadlessChrome", "127.0.0.1")
	// The event's URL serves the same file.
	resp, err := http.Get(data.Documents[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	viaURL, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(viaURL, signed) {
		t.Errorf("the signed document's URL: %d, %d bytes", resp.StatusCode, len(viaURL))
	}

	// Item 2: Bob declines; the request ends without SIGNATURES_COMPLETED.
	bob := env.outboxLinks(t, "bob@example.com")
	if len(bob) != 1 {
		t.Fatalf("invitations to Bob: %d", len(bob))
	}
	hosttest.Do(t, ctx, "decline as Bob",
		chromedp.Navigate(bob[0]),
		chromedp.WaitVisible(chromedp.ID("consent")),
		chromedp.Click(chromedp.CSS("#decline-box summary")),
		chromedp.WaitVisible(chromedp.ID("reason")),
		// The page images load while Bob declines and shift the layout:
		// typing can lose focus and a click by coordinates can land beside
		// the button, so the reason is set and the button pressed through
		// the DOM.
		chromedp.SetValue(chromedp.ID("reason"), "This is not my contract."),
		func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Evaluate[bool](`(document.getElementById("decline").click(), true)`)(ctx, tg)
			return chromedp.Void{}, err
		},
		chromedp.WaitVisible(chromedp.ID("outcome")),
	)
	outcome = hosttest.Read(t, ctx, chromedp.Text(chromedp.ID("outcome")))
	if !strings.Contains(outcome, "You declined") {
		t.Fatalf("after declining: %s", outcome)
	}
	evs = env.published(t, sum.RunID)
	declined := ofType(evs, "SIGNATURES_DECLINED", "2")
	if len(declined) != 1 || len(ofType(evs, "SIGNATURES_COMPLETED", "2")) != 0 || len(ofType(evs, "SIGNATURES_COMPLETED", "")) != 1 {
		t.Fatalf("after the decline: %d declined, %d completed in all", len(declined), len(ofType(evs, "SIGNATURES_COMPLETED", "")))
	}
	if err := env.engine.Validator().Validate(declined[0].raw); err != nil {
		t.Errorf("SIGNATURES_DECLINED does not validate: %v", err)
	}
	if !strings.Contains(string(declined[0].Data), `"reason":"This is not my contract."`) {
		t.Errorf("declined data: %s", declined[0].Data)
	}
	if len(env.outboxLinks(t, "hr@example.com")) != 1 {
		t.Error("HR was invited to the declined item")
	}
}

// checkSignedPDF checks the digital signature (pdfsign.Verify, and pdfsig
// when installed) and that the audit trail names what it should.
func checkSignedPDF(t *testing.T, pdf []byte, want ...string) {
	t.Helper()
	if _, err := pdfsign.Verify(pdf); err != nil {
		t.Errorf("signed PDF: %v", err)
	}
	report, ok := runPdfsig(t, pdf)
	if !ok {
		t.Log("pdfsig not installed (apt-get install poppler-utils): checked with pdfsign.Verify only")
		return
	}
	if !strings.Contains(report, "Signature Validation: Signature is Valid.") || !strings.Contains(report, "Total document signed") {
		t.Errorf("pdfsig:\n%s", report)
	}
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		return
	}
	path := filepath.Join(t.TempDir(), "signed.pdf")
	_ = os.WriteFile(path, pdf, 0o644)
	out, err := exec.Command(bin, "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	for _, w := range append([]string{"Audit trail", "Signatures", "Employment contract number 1"}, want...) {
		if !strings.Contains(string(out), w) {
			t.Errorf("the signed PDF's text lacks %q", w)
		}
	}
}
