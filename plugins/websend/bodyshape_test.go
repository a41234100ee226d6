package websend

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
)

const typedEnvelope = `{"eventId":"e1","eventType":"SIGNATURES_REQUESTED","data":{"count":12345678901234567890,"ok":true,"ratio":0.5,"documents":[{"id":"d1","name":"A \"B\""}],"recipients":[{"email":"a@example.com","order":1}]},"metadata":{"workflow":"invoices","run_id":"r1","item_id":"3","block_id":"sign","created_at":"2026-01-01T00:00:00Z"}}`

// TestStructuredBody: a mapping body is encoded as JSON; a leaf that is
// one tag keeps its value's type, text around a tag makes a string, a
// missing value is null, and the #name variables stand for their tags.
func TestStructuredBody(t *testing.T) {
	rcv := newReceiver(t, nil)
	body := map[string]any{
		"count":   "{{data.count}}",
		"ok":      "{{ data.ok }}",
		"ratio":   "#data.ratio",
		"order":   "#data.recipients.0.order",
		"docs":    "{{data.documents}}",
		"text":    "{{data.count}} items",
		"missing": "{{data.emails.0.subject}}",
		"blank":   "subject: {{data.emails.0.subject}}",
		"vars":    []any{"#event_type", "#event_id", "#timestamp", "#workflow", "#run_id", "#item_id", "#block_id", "item#3", "#unknown"},
		"fixed":   map[string]any{"n": json.Number("7"), "yes": false, "none": nil},
	}
	s := newSender(t, Config{URL: rcv.URL, Events: []string{"SIGNATURES_REQUESTED"}, Body: body}, Options{})
	ev := sdk.Event{ID: "e1", Type: "SIGNATURES_REQUESTED", Envelope: json.RawMessage(typedEnvelope)}
	if d := s.Deliver(context.Background(), []sdk.Event{ev})[0]; d.Status != sdk.Delivered {
		t.Fatalf("%+v", d)
	}
	want := `{"blank":"subject: ","count":12345678901234567890,"docs":[{"id":"d1","name":"A \"B\""}],"fixed":{"n":7,"none":null,"yes":false},` +
		`"missing":null,"ok":true,"order":1,"ratio":0.5,"text":"12345678901234567890 items",` +
		`"vars":["SIGNATURES_REQUESTED","e1","2026-01-01T00:00:00Z","invoices","r1","3","sign","item#3","#unknown"]}`
	if got := string(rcv.bodys[0]); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
}

// TestBodiesPerEventType: bodies gives a type its own body; a type
// without one sends body, or the envelope when there is none.
func TestBodiesPerEventType(t *testing.T) {
	all := []string{"DOCUMENTS_CREATED", "EMAILS_CREATED"}
	for name, c := range map[string]struct {
		cfg       Config
		docs, eml string
	}{
		"bodies only": {Config{Events: all, Bodies: map[string]any{"EMAILS_CREATED": map[string]any{"s": "{{data.emails.0.subject}}"}}},
			"envelope", `{"s":"Hi"}`},
		"bodies and body": {Config{Events: all, Body: map[string]any{"t": "#event_type"}, Bodies: map[string]any{"EMAILS_CREATED": []any{"#data.emails.0.to"}}},
			`{"t":"DOCUMENTS_CREATED"}`, `["a@example.com"]`},
	} {
		t.Run(name, func(t *testing.T) {
			rcv := newReceiver(t, nil)
			c.cfg.URL = rcv.URL
			s := newSender(t, c.cfg, Options{})
			docs, eml := event("e1", "DOCUMENTS_CREATED"), emailsEvent(t, "e2", "Hi")
			for _, d := range s.Deliver(context.Background(), []sdk.Event{docs, eml}) {
				if d.Status != sdk.Delivered {
					t.Fatalf("%+v", d)
				}
			}
			got := map[string]string{}
			for i, req := range rcv.reqs {
				got[req.Header.Get("webhook-id")] = string(rcv.bodys[i])
			}
			if c.docs == "envelope" {
				c.docs = string(docs.Envelope)
			}
			if got["e1"] != c.docs || got["e2"] != c.eml {
				t.Errorf("bodies %q, want %q and %q", got, c.docs, c.eml)
			}
		})
	}
}

func TestBodyConfigErrors(t *testing.T) {
	for want, cfg := range map[string]Config{
		"body_template: needs content_type":         {BodyTemplate: "x"},
		"give body (or bodies) or body_template":    {BodyTemplate: "x", ContentType: "text/plain", Body: map[string]any{"a": 1}},
		`the content type is "text/csv"`:            {Body: map[string]any{"a": 1}, ContentType: "text/csv"},
		"body: not valid JSON":                      {Body: "hello"},
		`bodies: unknown event type "NOPE"`:         {Bodies: map[string]any{"NOPE": map[string]any{}}},
		"bodies.EMAILS_CREATED.a: 1:1: unclosed":    {Bodies: map[string]any{"EMAILS_CREATED": map[string]any{"a": "{{x"}}},
		"content_type: the Content-Type header":     {ContentType: "text/plain", BodyTemplate: "x", Headers: map[string]string{"content-type": "text/plain"}},
		"body: want a mapping, a list or a string":  {Body: json.Number("1")},
		"body.a[0]: {{blocks.x.y}}: a sink sees":    {Body: map[string]any{"a": []any{"{{blocks.x.y}}"}}},
		"content_type: not a media type such as":    {ContentType: "///", BodyTemplate: "x"},
		"body: is sent as JSON, but the content ty": {Bodies: map[string]any{"EMAILS_CREATED": "{}"}, Headers: map[string]string{"Content-Type": "text/plain"}},
	} {
		cfg.URL = "https://example.com/hook"
		if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want %q", cfg, err, want)
		}
	}
}

func TestPortalVariables(t *testing.T) {
	for in, want := range map[string]string{
		"#event_type":                     "{{eventType}}",
		"Event #event_type at #timestamp": "Event {{eventType}} at {{metadata.created_at}}",
		"#data.documents.0.url.":          "{{data.documents.0.url}}.",
		"#data.":                          "#data.",
		"#data":                           "#data",
		"a#event_type":                    "a#event_type",
		"#event_types":                    "#event_types",
		"#Event_type":                     "#Event_type",
		"{{#if x}}#run_id{{/if}}":         "{{#if x}}{{metadata.run_id}}{{/if}}",
		"##item_id":                       "#{{metadata.item_id}}",
		"#workflow/#item_id":              "{{metadata.workflow}}/{{metadata.item_id}}",
	} {
		if got := portalVariables(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}
