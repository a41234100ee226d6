package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// TestEmailsCreatedPayload: EMAILS_CREATED carries "to" as one string, as
// Portant's payload does ("to": "contact@…"), with several recipients
// joined by ", ", and cc and bcc as lists when the mail has them.
func TestEmailsCreatedPayload(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		with string
		want string
	}{
		"one recipient": {`{"to": "Ada <ada@example.com>", "subject": "s", "text": "t"}`,
			`{"to":"ada@example.com","subject":"s","message_id":"<1@test.localhost>"}`},
		"several, cc and bcc": {`{"to": ["ada@example.com", "Grace <grace@example.com>"], "cc": "boss@example.com", "bcc": ["a@example.com", "b@example.com"], "subject": "s", "text": "t"}`,
			`{"to":"ada@example.com, grace@example.com","subject":"s","message_id":"<1@test.localhost>","cc":["boss@example.com"],"bcc":["a@example.com","b@example.com"]}`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := configure(t, c.with, &fakeHost{})
			res := b.Process(context.Background(), []sdk.Item{item(t, "1", map[string]any{}, nil, "")})[0]
			if res.Err != nil || len(res.Events) != 1 {
				t.Fatalf("result: %+v", res)
			}
			validateEvent(t, res.Events[0])
			var data struct {
				Emails []json.RawMessage `json:"emails"`
			}
			if err := json.Unmarshal(res.Events[0].Data, &data); err != nil || len(data.Emails) != 1 {
				t.Fatalf("data %s: %v", res.Events[0].Data, err)
			}
			var got, want any
			_ = json.Unmarshal(data.Emails[0], &got)
			_ = json.Unmarshal([]byte(c.want), &want)
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Errorf("email\n got %s\nwant %s", g, w)
			}
		})
	}
}
