package websend

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// TestOneBodyForSeveralEventTypes: a body naming a field only one event
// type has is still sent for the other types; the missing value is empty.
func TestOneBodyForSeveralEventTypes(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := newSender(t, Config{
		URL:    rcv.URL,
		Events: []string{"DOCUMENTS_CREATED", "EMAILS_CREATED"},
		Body:   `{"type": "{{eventType}}", "document": "{{data.documents.0.url}}", "subject": "{{data.emails.0.subject}}"}`,
	}, Options{})
	out := s.Deliver(context.Background(), []sdk.Event{event("e1", "DOCUMENTS_CREATED"), emailsEvent(t, "e2", "Hi")})
	for i, d := range out {
		if d.Status != sdk.Delivered {
			t.Fatalf("event %d: %+v", i, d)
		}
	}
	for _, body := range rcv.bodys {
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		if strings.Contains(string(body), "DOCUMENTS_CREATED") && got["document"] != "http://x/d1" {
			t.Errorf("documents body %s", body)
		}
		if strings.Contains(string(body), "EMAILS_CREATED") && got["subject"] != "Hi" {
			t.Errorf("emails body %s", body)
		}
	}
}
