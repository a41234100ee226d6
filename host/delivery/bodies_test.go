package delivery_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/events"
)

// nasty is a value with everything that breaks JSON built by pasting text.
const nasty = "O\"Brien \\ back\\slash\nnew line\t🎉 </script>&amp; {{not a tag}} #event_type"

// publishEvent publishes one event of workflow with data and returns its id.
func publishEvent(t *testing.T, b *bus.Bus, workflow, item string, typ events.Type, data any) string {
	t.Helper()
	v, err := events.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	_, raw, err := events.New(events.Metadata{Workflow: workflow, RunID: "r1", ItemID: item, BlockID: "b"}, typ, data)
	if err != nil {
		t.Fatal(err)
	}
	id, err := events.NewPublisher(b.JS, v).Publish(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestBodiesAreAlwaysJSON: a value with quotes, backslashes, line breaks,
// emoji and tag-like text in every body leaf, sent by the webhook block
// process for three event types (one body shared, one of their own): the
// receiver parses every body as JSON and finds the value unchanged, and
// numbers named by one tag stay numbers.
func TestBodiesAreAlwaysJSON(t *testing.T) {
	t.Setenv("PAPERFLOW_WEBHOOK_ALLOW", "127.0.0.1/32")
	b := newBus(t)
	e := newEngine(t, b)
	rcv := newReceiver(t, "", func(w http.ResponseWriter, id string, n int) bool {
		return ok(w, id, n)
	})
	wf := loadWorkflow(t, e, `name: bodies
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: hook
    uses: webhook
    with:
      url: "`+rcv.URL+`"
      events: [DOCUMENTS_CREATED, EMAILS_CREATED, SIGNATURES_REQUESTED]
      headers: {X-Event: "#event_type", X-Item: "{{metadata.item_id}}"}
      body:
        type: "#event_type"
        name: "{{data.documents.0.name}}"
        quoted: 'said "{{data.documents.0.name}}"'
        hash: "#data.documents.0.name"
        list: ["{{data.documents.0.name}}", "#data.documents.0.name | upper"]
        nested: {upper: "{{data.documents.0.name | upper}}", fixed: 3}
        order: "#data.recipients.0.order"
      bodies:
        EMAILS_CREATED:
          subject: "{{data.emails.0.subject}}"
          to: "#data.emails.0.to"
          both: "{{data.emails.0.subject}} / #data.emails.0.subject"
`, "Name\nA\n", nil)
	startSink(t, b, e, wf, "hook", nil)

	doc := map[string]any{"id": "d1", "url": "http://127.0.0.1/d1", "name": nasty, "mimetype": "application/pdf"}
	ids := []string{
		publishEvent(t, b, "bodies", "1", events.DocumentsCreated, map[string]any{"documents": []any{doc}}),
		publishEvent(t, b, "bodies", "2", events.EmailsCreated, map[string]any{"emails": []any{
			map[string]any{"to": "a@example.com", "subject": nasty, "message_id": "<m1@example.com>"}}}),
		publishEvent(t, b, "bodies", "3", events.SignaturesRequested, map[string]any{"documents": []any{doc}, "recipients": []any{
			map[string]any{"email": "a@example.com", "order": 2, "status": "PENDING", "signature_url": "http://127.0.0.1/s/1"}}}),
	}
	rcv.await(t, "three bodies", 10*time.Second, rcv.allDelivered(ids))

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, id := range ids {
		var got map[string]any
		if err := json.Unmarshal(rcv.bodies[id], &got); err != nil {
			t.Fatalf("body of %s is not JSON (%v):\n%s", id, err, rcv.bodies[id])
		}
		if got["subject"] != nil { // EMAILS_CREATED: its own body
			if got["subject"] != nasty || got["to"] != "a@example.com" || got["both"] != nasty+" / "+nasty {
				t.Errorf("emails body: %s", rcv.bodies[id])
			}
			continue
		}
		up := strings.ToUpper(nasty)
		nested, _ := got["nested"].(map[string]any)
		list, _ := got["list"].([]any)
		if got["name"] != nasty || got["quoted"] != `said "`+nasty+`"` || got["hash"] != nasty ||
			len(list) != 2 || list[0] != nasty || list[1] != nasty+" | upper" ||
			nested["upper"] != up || nested["fixed"] != float64(3) {
			t.Errorf("body of %s:\n%s", id, rcv.bodies[id])
		}
		switch got["type"] {
		case "SIGNATURES_REQUESTED":
			if got["order"] != float64(2) {
				t.Errorf("order is not the number 2: %s", rcv.bodies[id])
			}
		case "DOCUMENTS_CREATED":
			if v, present := got["order"]; !present || v != nil {
				t.Errorf("a value the type lacks is not null: %s", rcv.bodies[id])
			}
		default:
			t.Errorf("type %v", got["type"])
		}
	}
}
