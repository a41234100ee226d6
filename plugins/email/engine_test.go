package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/mail/smtptest"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
)

func TestMain(m *testing.M) { hosttest.Main(m) }

// blocks are the binaries the engine tests run: csv, makedoc and this one.
var blocks = []string{"email=.", "csv", "makedoc=testdata/blocks/makedoc"}

type testEnv struct {
	*hosttest.Env
	smtp *smtptest.Server
}

// newEnv starts an embedded NATS in a temp dir, an SMTP server on
// 127.0.0.1, and an engine whose mail transport is SMTP to that server.
func newEnv(t *testing.T, o smtptest.Options) *testEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("runs block binaries through the engine")
	}
	srv := smtptest.Start(t, o)
	cfg, err := mail.ParseSMTPURL(srv.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Retry = mail.RetryPolicy{Attempts: 3, Initial: 2 * time.Millisecond, Max: 10 * time.Millisecond}
	tr, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	h := hosttest.Start(t, hosttest.Options{Blocks: blocks, Engine: func(o *engine.Options) { o.Mail = tr }})
	return &testEnv{Env: h, smtp: srv}
}

// load writes a workflow and its files into a temp dir and loads it.
func (env *testEnv) load(t *testing.T, wfYAML string, files map[string]string) *workflow.Workflow {
	t.Helper()
	return env.Load(t, wfYAML, files)
}

// published reads the run's events from the PAPERFLOW_EVENTS stream.
func (env *testEnv) published(t *testing.T, runID string) []events.Envelope {
	return env.Events(t, runID)
}

// checkpoint reads the outputs a block recorded for an item.
func (env *testEnv) checkpoint(t *testing.T, runID, itemID, blockID string) map[string]any {
	t.Helper()
	ctx := context.Background()
	raw, ok, err := engine.ItemCheckpoint(ctx, env.Bus.JS, runID, itemID, blockID)
	if err != nil || !ok {
		t.Fatalf("checkpoint %s/%s/%s: found %v, %v", runID, itemID, blockID, ok, err)
	}
	var outputs map[string]any
	if err := json.Unmarshal(raw, &outputs); err != nil {
		t.Fatal(err)
	}
	return outputs
}

const mailWorkflow = `name: mailtest
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: invoice
    uses: makedoc
  - id: mail
    uses: email
    with:
      from: "Billing <billing@example.com>"
      to: "{{Email}}"
      bcc: archive@example.com
      subject: "Rechnung für {{Name}}"
      text: "Dear {{Name}},\nyour invoice is attached."
      html_template: mail.html
      attach: [invoice]
      when:
        all:
          - {field: Send, op: equals, value: "yes"}
`

// TestEndToEndOverSMTP runs csv → makedoc → email through the real engine
// and block processes, delivering over STARTTLS with AUTH PLAIN to an
// in-process SMTP server, and checks what the server received against the
// events on NATS.
func TestEndToEndOverSMTP(t *testing.T) {
	t.Parallel()
	env := newEnv(t, smtptest.Options{Security: smtptest.StartTLS, User: "paperflow", Password: "s3cret"})
	wf := env.load(t, mailWorkflow, map[string]string{
		"items.csv": "Name,Email,Send\nZoë <b>Ångström</b>,zoe@example.com,yes\nBob,bob@example.com,no\nEve,not-an-address,yes\n",
		"mail.html": "<p>Dear {{Name}},</p><p>your invoice is attached.</p>",
	})
	sum, err := env.Engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Items != 3 || sum.Succeeded != 2 || sum.Failed != 1 || sum.Events["EMAILS_CREATED"] != 1 {
		t.Fatalf("summary: %+v", sum)
	}

	t.Run("the invalid address fails its item, naming the field", func(t *testing.T) {
		if len(sum.Errors) != 1 {
			t.Fatalf("errors: %+v", sum.Errors)
		}
		e := sum.Errors[0]
		if e.Item != "3" || e.Block != "mail" || !strings.Contains(e.Error, `to: {{Email}} gives "not-an-address" for this item, which is not one valid email address`) {
			t.Errorf("error: %+v", e)
		}
	})

	t.Run("the skipped item succeeded with a skip", func(t *testing.T) {
		out := env.checkpoint(t, sum.RunID, "2", "mail")
		if out["skipped"] != true || !strings.Contains(fmt.Sprint(out["reason"]), `Send equals "yes" (it is "no")`) {
			t.Errorf("outputs of the skipped item: %v", out)
		}
	})

	msgs := env.smtp.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if !got.TLS || got.Auth != "paperflow" {
		t.Errorf("delivered without STARTTLS/AUTH: tls %v auth %q", got.TLS, got.Auth)
	}
	if !slices.Equal(got.To, []string{"zoe@example.com", "archive@example.com"}) || got.From != "billing@example.com" {
		t.Errorf("envelope: from %q to %v", got.From, got.To)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("EMAILS_CREATED carries the Message-ID the server received", func(t *testing.T) {
		evs := env.published(t, sum.RunID)
		var emails []events.Envelope
		for _, ev := range evs {
			if ev.EventType == events.Type("EMAILS_CREATED") {
				emails = append(emails, ev)
			}
		}
		if len(emails) != 1 || emails[0].Metadata.ItemID != "1" || emails[0].Metadata.BlockID != "mail" {
			t.Fatalf("EMAILS_CREATED events: %+v", emails)
		}
		var data struct {
			Emails []struct {
				To        string `json:"to"`
				Subject   string `json:"subject"`
				MessageID string `json:"message_id"`
			} `json:"emails"`
		}
		if err := json.Unmarshal(emails[0].Data, &data); err != nil || len(data.Emails) != 1 {
			t.Fatalf("data %s: %v", emails[0].Data, err)
		}
		e := data.Emails[0]
		if e.MessageID == "" || e.MessageID != msg.Header.Get("Message-Id") {
			t.Errorf("event message_id %q, Message-ID received %q", e.MessageID, msg.Header.Get("Message-Id"))
		}
		if e.To != "zoe@example.com" || e.Subject != "Rechnung für Zoë <b>Ångström</b>" {
			t.Errorf("event: %+v", e)
		}
		if out := env.checkpoint(t, sum.RunID, "1", "mail"); out["message_id"] != e.MessageID {
			t.Errorf("outputs.message_id %v, want %s", out["message_id"], e.MessageID)
		}
	})

	t.Run("the message: subject, bodies, attachment", func(t *testing.T) {
		if s, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); s != "Rechnung für Zoë <b>Ångström</b>" {
			t.Errorf("subject %q", s)
		}
		if msg.Header.Get("Bcc") != "" || bytes.Contains(got.Data, []byte("archive@example.com")) {
			t.Errorf("the Bcc address is in the message")
		}
		parts := readParts(t, msg.Header.Get("Content-Type"), msg.Body)
		if !strings.Contains(parts["text/plain"], "Dear Zoë <b>Ångström</b>,") {
			t.Errorf("text part: %q", parts["text/plain"])
		}
		if !strings.Contains(parts["text/html"], "Dear Zoë &lt;b&gt;Ångström&lt;/b&gt;,") {
			t.Errorf("html part does not escape the item's value: %q", parts["text/html"])
		}
		outputs := env.checkpoint(t, sum.RunID, "1", "invoice")
		docs, _ := outputs["documents"].([]any)
		if len(docs) != 1 {
			t.Fatalf("invoice outputs: %v", outputs)
		}
		doc := docs[0].(map[string]any)
		_, want, err := env.Engine.GetDocument(context.Background(), doc["id"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if att := parts["attachment:Invoice 1.pdf"]; att != string(want) {
			t.Errorf("attachment: %d bytes, want the %d bytes the invoice block stored", len(att), len(want))
		}
	})
}

// TestEndToEndTemporaryFailure: the server refuses the first messages
// with 451, more often than the transport retries by itself; the block
// reports a retryable error, the engine tries the item again, and the
// email goes out once.
func TestEndToEndTemporaryFailure(t *testing.T) {
	t.Parallel()
	env := newEnv(t, smtptest.Options{OnData: func(n int, _ smtptest.Message) error {
		if n <= 3 {
			return smtptest.Reply(451, "4.3.0 greylisted, try again later")
		}
		return nil
	}})
	wf := env.load(t, `name: retrytest
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: mail
    uses: email
    with: {to: "{{Email}}", subject: "Hello {{Name}}", text: "Hi"}
`, map[string]string{"items.csv": "Name,Email\nAda,ada@example.com\n"})
	sum, err := env.Engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Succeeded != 1 || sum.Failed != 0 {
		t.Fatalf("summary: %+v", sum)
	}
	if n, d := len(env.smtp.Messages()), env.smtp.DataCommands(); n != 1 || d != 4 {
		t.Errorf("%d delivered after %d DATA commands; want 1 after 4 (3 refused)", n, d)
	}
}

// TestEndToEndPermanentFailure: a 5xx fails the item with the server's
// reply, and is not retried.
func TestEndToEndPermanentFailure(t *testing.T) {
	t.Parallel()
	env := newEnv(t, smtptest.Options{OnData: func(int, smtptest.Message) error {
		return smtptest.Reply(550, "5.7.1 relaying denied")
	}})
	wf := env.load(t, `name: permtest
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: mail
    uses: email
    with: {to: "{{Email}}", subject: "Hello", text: "Hi"}
`, map[string]string{"items.csv": "Email\nada@example.com\n"})
	sum, err := env.Engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 || len(sum.Errors) != 1 || !strings.Contains(sum.Errors[0].Error, "550 5.7.1 relaying denied") {
		t.Fatalf("summary: %+v", sum)
	}
	if d := env.smtp.DataCommands(); d != 1 {
		t.Errorf("%d DATA commands; a 5xx is not retried", d)
	}
}

// TestNeverTwice: the block process crashes after sending; the item is
// processed again by a restarted process and nothing is sent twice.
func TestNeverTwice(t *testing.T) {
	t.Parallel()
	env := newEnv(t, smtptest.Options{})
	blk, err := pluginhost.Start(context.Background(), pluginhost.Spec{
		Instance: pluginhost.Instance{Workflow: "oncetest", BlockID: "mail"}, Uses: "email",
		Path: filepath.Join(env.PluginDir, "email"), Config: []byte(`{"to": "ada@example.com", "subject": "once", "text": "t"}`),
		WorkflowDir: t.TempDir(), PublicURL: "http://127.0.0.1:8080",
	}, env.Engine, env.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer blk.Close()
	items := []*blockv1.Item{{Id: "7", RunId: "run-once", Origin: "test:7", Fields: []byte(`{}`)}}
	first, err := blk.Process(context.Background(), items)
	if err != nil || first[0].Error != "" {
		t.Fatalf("first: %v %+v", err, first)
	}
	blk.KillProcess()
	second, err := blk.Process(context.Background(), items)
	if err != nil || second[0].Error != "" {
		t.Fatalf("after a restart: %v %+v", err, second)
	}
	if blk.Restarts() != 1 {
		t.Errorf("restarts %d", blk.Restarts())
	}
	if string(first[0].Outputs) != string(second[0].Outputs) {
		t.Errorf("outputs differ: %s vs %s", first[0].Outputs, second[0].Outputs)
	}
	if n := len(env.smtp.Messages()); n != 1 {
		t.Errorf("%d messages sent, want 1", n)
	}
}

// readParts flattens a MIME body: "text/plain", "text/html", and
// "attachment:<filename>" (decoded bytes).
func readParts(t *testing.T, contentType string, body io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(ct string, r io.Reader)
	walk = func(ct string, r io.Reader) {
		_, params, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatal(err)
		}
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(p)
			pct := p.Header.Get("Content-Type")
			mt, _, _ := mime.ParseMediaType(pct)
			switch {
			case strings.HasPrefix(mt, "multipart/"):
				walk(pct, bytes.NewReader(data))
			case p.FileName() != "":
				dec, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(data)))
				if err != nil {
					t.Fatal(err)
				}
				out["attachment:"+p.FileName()] = string(dec)
			default:
				out[mt] = strings.ReplaceAll(string(data), "\r\n", "\n")
			}
		}
	}
	walk(contentType, body)
	return out
}
