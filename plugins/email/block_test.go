package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// fakeHost records SendMail calls; every other Host service is unused.
type fakeHost struct {
	sdk.Host
	mu    sync.Mutex
	sent  []sdk.Mail
	fail  error
	byKey map[string]string
}

func (h *fakeHost) SendMail(_ context.Context, m sdk.Mail) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail != nil {
		return "", h.fail
	}
	if id, ok := h.byKey[m.IdempotencyKey]; ok {
		return id, nil
	}
	if h.byKey == nil {
		h.byKey = map[string]string{}
	}
	h.sent = append(h.sent, m)
	id := fmt.Sprintf("<%d@test.localhost>", len(h.sent))
	h.byKey[m.IdempotencyKey] = id
	return id, nil
}

func configure(t *testing.T, with string, h sdk.Host) *Block {
	t.Helper()
	b := &Block{}
	if err := b.Configure(context.Background(), sdk.Config{Workflow: "wf", BlockID: "mail", With: json.RawMessage(with), WorkflowDir: "testdata", Host: h}); err != nil {
		t.Fatal(err)
	}
	return b
}

// item makes an item whose resolved config is with (the host resolves
// tags; these tests give the resolved values directly).
func item(t *testing.T, id string, fields map[string]any, blocks map[string]any, with string) sdk.Item {
	t.Helper()
	it, err := sdk.NewItem("test:"+id, fields)
	if err != nil {
		t.Fatal(err)
	}
	it.ID, it.RunID = id, "run-1"
	if blocks != nil {
		it.RawBlocks, _ = json.Marshal(blocks)
	}
	if with != "" {
		it.RawConfig = json.RawMessage(with)
	}
	return it
}

func validateEvent(t *testing.T, ev sdk.EventData) {
	t.Helper()
	v, err := events.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	_, raw, err := events.New(events.Metadata{Workflow: "wf", RunID: "run-1", ItemID: "1", BlockID: "mail", CreatedAt: time.Now()}, events.Type(ev.Type), ev.Data)
	if err == nil {
		err = v.Validate(raw)
	}
	if err != nil {
		t.Errorf("%s event does not validate: %v\n%s", ev.Type, err, ev.Data)
	}
}

func TestProcessSends(t *testing.T) {
	t.Parallel()
	h := &fakeHost{}
	const with = `{"to": ["Ada Lovelace <ada@example.com>", ""], "cc": "boss@example.com", "bcc": "archive@example.com",
		"reply_to": "help@example.com", "from": "Billing <billing@example.com>",
		"subject": "Invoice for Ada", "text": "Dear Ada", "html_template": "welcome.html", "attach": ["invoice"],
		"when": {"all": [{"field": "Send", "op": "equals", "value": "yes"}]}}`
	b := configure(t, with, h)
	fields := map[string]any{"Name": "Ada <b>&</b>", "Send": "Yes"}
	blocks := map[string]any{"invoice": map[string]any{"documents": []any{
		map[string]any{"id": "doc-1", "name": "Invoice 1.pdf", "mimetype": "application/pdf", "url": "http://x/doc-1"},
	}}}
	res := b.Process(context.Background(), []sdk.Item{item(t, "1", fields, blocks, "")})[0]
	if res.Err != nil || res.Skipped {
		t.Fatalf("result: %+v", res)
	}
	if len(h.sent) != 1 {
		t.Fatalf("%d mails sent", len(h.sent))
	}
	m := h.sent[0]
	if m.IdempotencyKey != "run-1/1/mail" {
		t.Errorf("idempotency key %q, want run/item/block", m.IdempotencyKey)
	}
	if strings.Join(m.To, ",") != `"Ada Lovelace" <ada@example.com>` || strings.Join(m.Cc, ",") != "<boss@example.com>" ||
		strings.Join(m.Bcc, ",") != "<archive@example.com>" || m.ReplyTo != "<help@example.com>" || m.From != `"Billing" <billing@example.com>` {
		t.Errorf("addresses: %+v", m)
	}
	if !strings.Contains(m.HTML, "Dear Ada &lt;b&gt;&amp;&lt;/b&gt;,") || strings.Contains(m.HTML, "<b>&</b>") {
		t.Errorf("html_template did not escape the item's value:\n%s", m.HTML)
	}
	if len(m.Attachments) != 1 || m.Attachments[0] != (sdk.Attachment{DocumentID: "doc-1", Filename: "Invoice 1.pdf"}) {
		t.Errorf("attachments: %+v", m.Attachments)
	}
	if len(res.Events) != 1 || res.Events[0].Type != "EMAILS_CREATED" {
		t.Fatalf("events: %+v", res.Events)
	}
	validateEvent(t, res.Events[0])
	var data struct {
		Emails []struct {
			To        string `json:"to"`
			Subject   string `json:"subject"`
			MessageID string `json:"message_id"`
		} `json:"emails"`
	}
	_ = json.Unmarshal(res.Events[0].Data, &data)
	if len(data.Emails) != 1 || data.Emails[0].To != "ada@example.com" || data.Emails[0].MessageID != "<1@test.localhost>" || data.Emails[0].Subject != "Invoice for Ada" {
		t.Errorf("event data: %s", res.Events[0].Data)
	}
	if res.Outputs["message_id"] != "<1@test.localhost>" {
		t.Errorf("outputs: %v", res.Outputs)
	}

	// The same item again (a redelivery) sends nothing new and reports the
	// same message id.
	again := b.Process(context.Background(), []sdk.Item{item(t, "1", fields, blocks, "")})[0]
	if again.Err != nil || len(h.sent) != 1 || again.Outputs["message_id"] != res.Outputs["message_id"] {
		t.Errorf("redelivered item: %+v, %d sent", again, len(h.sent))
	}
}

func TestProcessSkipsOnRules(t *testing.T) {
	t.Parallel()
	h := &fakeHost{}
	b := configure(t, `{"to": "{{Email}}", "subject": "s", "text": "t", "when": {"any": [{"field": "Country", "op": "equals", "value": "DE"}, {"field": "VIP", "op": "is_not_empty"}]}}`, h)
	resolved := `{"to": "x@example.com", "subject": "s", "text": "t", "when": {"any": [{"field": "Country", "op": "equals", "value": "DE"}, {"field": "VIP", "op": "is_not_empty"}]}}`
	res := b.Process(context.Background(), []sdk.Item{
		item(t, "1", map[string]any{"Email": "x@example.com", "Country": "FR"}, nil, resolved),
		item(t, "2", map[string]any{"Email": "x@example.com", "Country": "FR", "VIP": "yes"}, nil, resolved),
	})
	if !res[0].Skipped || res[0].Err != nil || len(res[0].Events) != 0 {
		t.Errorf("item 1: want skipped without error or events, got %+v", res[0])
	}
	if why, _ := res[0].Outputs["reason"].(string); !strings.Contains(why, `Country equals "DE" (it is "FR")`) {
		t.Errorf("skip reason %q", why)
	}
	if res[1].Skipped || res[1].Err != nil {
		t.Errorf("item 2: want sent, got %+v", res[1])
	}
	if len(h.sent) != 1 {
		t.Errorf("%d sent, want 1", len(h.sent))
	}
}

// TestProcessAttachesUploadedFiles: an attach entry that is a tag names a
// field holding uploaded files; the host renders it as the document's JSON
// (one, or a list), and an empty field attaches nothing.
func TestProcessAttachesUploadedFiles(t *testing.T) {
	t.Parallel()
	h := &fakeHost{}
	b := configure(t, `{"to": "a@example.com", "subject": "s", "attach": ["invoice", "{{cv}}", "{{more}}", "{{optional}}"]}`, h)
	blocks := map[string]any{"invoice": map[string]any{"documents": []any{map[string]any{"id": "doc-1", "name": "Invoice 1.pdf"}}}}
	resolved := `{"to": "a@example.com", "subject": "s", "attach": ["invoice",
		"{\"id\": \"doc-2\", \"name\": \"cv.pdf\", \"mimetype\": \"application/pdf\", \"url\": \"http://x/doc-2\"}",
		"[{\"id\": \"doc-3\", \"name\": \"a.png\"}, {\"id\": \"doc-4\", \"name\": \"b.png\"}]", ""]}`
	res := b.Process(context.Background(), []sdk.Item{item(t, "1", map[string]any{}, blocks, resolved)})[0]
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	want := []sdk.Attachment{{DocumentID: "doc-1", Filename: "Invoice 1.pdf"}, {DocumentID: "doc-2", Filename: "cv.pdf"}, {DocumentID: "doc-3", Filename: "a.png"}, {DocumentID: "doc-4", Filename: "b.png"}}
	if got := h.sent[0].Attachments; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("attachments %+v, want %+v", got, want)
	}
	for resolvedEntry, msg := range map[string]string{
		`"{\"name\": \"cv.pdf\"}"`: "has no document id",
		`"{not json"`:              "is not a document",
		`"Ada"`:                    `block "Ada" has no output`,
	} {
		res := b.Process(context.Background(), []sdk.Item{item(t, "2", map[string]any{}, blocks, `{"to": "a@example.com", "subject": "s", "attach": [`+resolvedEntry+`]}`)})[0]
		if res.Err == nil || !strings.Contains(res.Err.Error(), msg) {
			t.Errorf("attach %s: error %v, want one saying %q", resolvedEntry, res.Err, msg)
		}
	}
}

func TestProcessRefusesBadInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, with string
		blocks     map[string]any
		want       string
	}{
		{"invalid to", `{"to": "not-an-address", "subject": "s"}`, nil, `to: "not-an-address" is not a valid email address`},
		{"empty to", `{"to": "  ", "subject": "s"}`, nil, "to: no address for this item"},
		{"invalid cc", `{"to": "a@example.com", "cc": ["ok@example.com", "bad@"], "subject": "s"}`, nil, `cc: "bad@"`},
		{"invalid from", `{"to": "a@example.com", "from": "billing", "subject": "s"}`, nil, "from:"},
		{"CR/LF in to", `{"to": "a@example.com\r\nBcc: victim@example.com", "subject": "s"}`, nil, "to:"},
		{"CR/LF in reply_to", `{"to": "a@example.com", "reply_to": "b@example.com\nX-Evil: 1", "subject": "s"}`, nil, "reply_to:"},
		{"CR/LF in subject", `{"to": "a@example.com", "subject": "Hello\r\nBcc: victim@example.com"}`, nil, "subject:"},
		{"attach block without documents", `{"to": "a@example.com", "subject": "s", "attach": ["invoice"]}`,
			map[string]any{"invoice": map[string]any{"skipped": true}}, `attach: block "invoice" was skipped`},
		{"attach block not run", `{"to": "a@example.com", "subject": "s", "attach": ["invoice"]}`, nil, `attach: block "invoice" has no output`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &fakeHost{}
			b := configure(t, c.with, h)
			res := b.Process(context.Background(), []sdk.Item{item(t, "1", map[string]any{}, c.blocks, "")})[0]
			if res.Err == nil || !strings.Contains(res.Err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", res.Err, c.want)
			}
			var se *sdk.Error
			if errors.As(res.Err, &se) && se.Retryable {
				t.Errorf("bad input must not be retried")
			}
			if len(h.sent) != 0 {
				t.Errorf("sent %d", len(h.sent))
			}
		})
	}
}

func TestProcessSendErrors(t *testing.T) {
	t.Parallel()
	const with = `{"to": "a@example.com", "subject": "s", "text": "t"}`
	for _, c := range []struct {
		name      string
		err       error
		retryable bool
		want      string
	}{
		{"transient, as text", errors.New("host: send mail: rpc error: code = InvalidArgument desc = smtp h:25: DATA: server replied 451 busy (temporary failure; tried 3 times)"), true, "451 busy"},
		{"transient, as a status code", fmt.Errorf("host: send mail: %w", status.Error(codes.Unavailable, "smtp h:25: connect: connection refused")), true, "connection refused"},
		{"permanent", fmt.Errorf("host: send mail: %w", status.Error(codes.InvalidArgument, "smtp h:25: RCPT TO <a@example.com>: server replied 550 5.1.1 no such user (permanent: the server refused this message)")), false, "email: send: smtp h:25: RCPT TO <a@example.com>: server replied 550 5.1.1 no such user"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := configure(t, with, &fakeHost{fail: c.err})
			res := b.Process(context.Background(), []sdk.Item{item(t, "1", nil, nil, "")})[0]
			if res.Err == nil || !strings.Contains(res.Err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", res.Err, c.want)
			}
			var se *sdk.Error
			if got := errors.As(res.Err, &se) && se.Retryable; got != c.retryable {
				t.Errorf("retryable %v, want %v", got, c.retryable)
			}
		})
	}
}

func TestConfigureRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "broken.html"), []byte("<p>{{#if X}}never closed</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ with, want string }{
		{`{"subject": "s"}`, "with.to is required"},
		{`{"to": "a@example.com", "subject": "s", "html": "<p>", "html_template": "broken.html"}`, "html or html_template, not both"},
		{`{"to": "a@example.com", "subject": "s", "html_template": "missing.html"}`, "html_template"},
		{`{"to": "a@example.com", "subject": "s", "html_template": "broken.html"}`, "broken.html:1:"},
		{`{"to": "a@example.com", "subject": "s", "when": {"all": [{"field": "{{X}}", "op": "is_empty"}]}}`, "without braces"},
		{`{"to": "a@example.com", "subject": "s", "attach": [" "]}`, "attach[0]"},
	} {
		b := &Block{}
		err := b.Configure(context.Background(), sdk.Config{BlockID: "mail", With: json.RawMessage(c.with), WorkflowDir: dir, Host: &fakeHost{}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.with, err, c.want)
		}
	}
}
