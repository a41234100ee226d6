package websend

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// emailsEvent is an EMAILS_CREATED event whose subject is subject.
func emailsEvent(t *testing.T, id, subject string) sdk.Event {
	t.Helper()
	env, err := json.Marshal(map[string]any{
		"eventId": id, "eventType": "EMAILS_CREATED",
		"data":     map[string]any{"emails": []map[string]any{{"to": "a@example.com", "subject": subject, "message_id": "<m1@example.com>"}}},
		"metadata": map[string]any{"workflow": "invoices", "run_id": "r1", "item_id": "3", "block_id": "mail", "created_at": "2026-01-01T00:00:00Z"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return sdk.Event{ID: id, Type: "EMAILS_CREATED", Envelope: env, Attempt: 1}
}

// TestStringBodyIsEscapedAsJSON: a value inserted into a body sent as
// application/json is escaped, so a quote in a subject does not break it.
func TestStringBodyIsEscapedAsJSON(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := newSender(t, Config{URL: rcv.URL, Body: `{"subject": "{{data.emails.0.subject}}"}`}, Options{})
	subject := "Hello O\"Brien \\ \n 🎉"
	d := s.Deliver(context.Background(), []sdk.Event{emailsEvent(t, "e1", subject)})[0]
	if d.Status != sdk.Delivered {
		t.Fatalf("%+v", d)
	}
	var got struct {
		Subject string `json:"subject"`
	}
	if err := json.Unmarshal(rcv.bodys[0], &got); err != nil || got.Subject != subject {
		t.Fatalf("body %s is not JSON with the subject (%v)", rcv.bodys[0], err)
	}
}
