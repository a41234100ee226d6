package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/hosttest"
	hostmail "github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
)

// applyForm collects an application with a PDF and mails the PDF on.
const applyForm = `name: apply
on:
  form:
    title: Apply
    description: Tell us about you.
    submit: Send my application
    thanks: Thank you, we have your application.
    schema:
      type: object
      required: [name, email, cv]
      properties:
        name: {type: string, title: Your name}
        email: {type: string, format: email, title: Email}
        start: {type: string, format: date, title: Start date}
        years: {type: integer, minimum: 0, maximum: 60, title: Years of experience}
        role: {enum: [engineer, designer], title: Role}
        letter: {type: string, format: textarea, title: Cover letter}
        remote: {type: boolean, title: I work remotely}
        cv: {type: string, format: binary, title: CV (PDF), accept: ".pdf,application/pdf"}
blocks:
  - id: mail
    uses: email
    with:
      to: "{{email}}"
      subject: "Application from {{name}}"
      text: "Dear {{name}}, your CV is attached."
      attach: ["{{cv}}"]
`

var buildEmail = sync.OnceValue(func() error {
	if out, err := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "email"), "../../plugins/email").CombinedOutput(); err != nil {
		return &buildError{name: "email", out: string(out), err: err}
	}
	return nil
})

// TestBrowserForm fills the form of a served workflow in Chromium at
// 390 px: a submission without a required field shows the error beside it
// with the values kept; the complete one, with a PDF, is one item whose
// email, in the outbox, carries the PDF.
func TestBrowserForm(t *testing.T) {
	ctx := hosttest.Browser(t, hosttest.BrowserOptions{})
	if err := buildEmail(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "apply.yaml")
	if err := os.WriteFile(file, []byte(applyForm), 0o600); err != nil {
		t.Fatal(err)
	}
	pdf := []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	cv := filepath.Join(dir, "cv.pdf")
	if err := os.WriteFile(cv, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := bus.Open(context.Background(), bus.Options{DataDir: filepath.Join(dir, "nats"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	outbox := filepath.Join(dir, "outbox")
	e, err := engine.New(context.Background(), engine.Options{
		Bus: b, Plugins: pluginhost.Registry{Dir: pluginDir}, PublicURL: "http://pages.example",
		Mail: hostmail.Outbox{Dir: outbox}, Log: log, ItemTimeout: 30 * time.Second,
	})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	srv, err := New(Config{Bus: b, Engine: e, Files: []string{file}, HTTPAddr: "127.0.0.1:0", PublicURL: "http://pages.example", APIToken: "token", Log: log})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(); b.Close() })
	published, err := b.NC.SubscribeSync(events.Subject("apply", "EMAILS_CREATED"))
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + srv.Addr() + "/forms/apply"

	text := func(sel string) string {
		t.Helper()
		return hosttest.Read(t, ctx, chromedp.Text(chromedp.CSS(sel)))
	}
	value := func(sel string) string {
		t.Helper()
		return hosttest.Read(t, ctx, chromedp.Value(chromedp.CSS(sel)))
	}

	// Without the email: the error is beside the field, the values stay.
	hosttest.Do(t, ctx, "fill the form without an email",
		chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("submit")),
		chromedp.SendKeys(chromedp.ID("field-0"), "Ada <b>Lovelace</b>"),
		chromedp.SetValue(chromedp.ID("field-2"), "2030-01-15"),
		chromedp.SendKeys(chromedp.ID("field-3"), "12"),
		chromedp.SetValue(chromedp.ID("field-4"), "designer"),
		chromedp.SendKeys(chromedp.ID("field-5"), "I like\nengines."),
		chromedp.Click(chromedp.ID("field-6")),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("problems")),
	)
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	if err != nil || !fits {
		t.Errorf("the form is wider than a 390 px screen (%v)", err)
	}
	if got := text("#field-1-error"); !strings.Contains(got, "Fill in this field") {
		t.Errorf("the email's error: %q", got)
	}
	if got := text("#field-7-error"); !strings.Contains(got, "Choose a file") {
		t.Errorf("the CV's error: %q", got)
	}
	for sel, want := range map[string]string{"#field-0": "Ada <b>Lovelace</b>", "#field-2": "2030-01-15", "#field-3": "12", "#field-4": "designer", "#field-5": "I like\nengines."} {
		if got := value(sel); got != want {
			t.Errorf("%s kept %q, want %q", sel, got, want)
		}
	}
	checked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("field-6").checked`))
	if err != nil || !checked {
		t.Errorf("the checkbox was not kept (%v)", err)
	}
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`))
	if err != nil || focused != "field-1" {
		t.Errorf("focus on %q, want the first field with an error", focused)
	}

	// Complete, with the PDF: the thanks page, then the item's events.
	hosttest.Do(t, ctx, "complete the form",
		chromedp.SendKeys(chromedp.ID("field-1"), "ada@example.com"),
		chromedp.SetUploadFiles(chromedp.ID("field-7"), []string{cv}),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("thanks")),
	)
	if got := text("#thanks"); !strings.Contains(got, "Thank you, we have your application.") {
		t.Errorf("thanks page: %q", got)
	}
	msg, err := published.NextMsg(time.Minute)
	if err != nil {
		t.Fatalf("no EMAILS_CREATED for the submission: %v", err)
	}
	var env events.Envelope
	if err := json.Unmarshal(msg.Data, &env); err != nil {
		t.Fatal(err)
	}
	if env.Metadata.RunID != engine.TriggerRunID("apply", "form", time.Now()) {
		t.Errorf("the event's run %q is not the form day run", env.Metadata.RunID)
	}
	var data struct {
		Emails []struct{ To, Subject string } `json:"emails"`
	}
	if err := json.Unmarshal(env.Data, &data); err != nil || len(data.Emails) != 1 ||
		data.Emails[0].To != "ada@example.com" || data.Emails[0].Subject != "Application from Ada <b>Lovelace</b>" {
		t.Errorf("EMAILS_CREATED data: %s (%v)", env.Data, err)
	}

	// The mail in the outbox carries the uploaded PDF.
	emls, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
	if len(emls) != 1 {
		t.Fatalf("%d messages in the outbox, want 1", len(emls))
	}
	raw, err := os.ReadFile(emls[0])
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := attachmentsOf(t, m.Header.Get("Content-Type"), m.Body); !bytes.Equal(got["cv.pdf"], pdf) {
		t.Errorf("attachment cv.pdf: %d bytes, want the %d uploaded", len(got["cv.pdf"]), len(pdf))
	}

	// A workflow no longer served has no form.
	srv.workflows.remove("apply")
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the form of a removed workflow: %d, want 404", resp.StatusCode)
	}
}

// attachmentsOf decodes a message's attachments by file name.
func attachmentsOf(t *testing.T, contentType string, body io.Reader) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var walk func(ct string, r io.Reader)
	walk = func(ct string, r io.Reader) {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || !strings.HasPrefix(mt, "multipart/") {
			return
		}
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				return
			}
			data, _ := io.ReadAll(p)
			if p.FileName() != "" {
				dec, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(data)))
				if err != nil {
					t.Fatal(err)
				}
				out[p.FileName()] = dec
				continue
			}
			walk(p.Header.Get("Content-Type"), bytes.NewReader(data))
		}
	}
	walk(contentType, body)
	return out
}
