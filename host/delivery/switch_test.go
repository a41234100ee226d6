package delivery_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/delivery"
)

// countStatus counts the attempts of a status.
func countStatus(as []delivery.Attempt, status string) int {
	n := 0
	for _, a := range as {
		if a.Status == status {
			n++
		}
	}
	return n
}

// TestSinkIfIsEvaluatedPerEvent: a sink's if: is rendered against each
// event's envelope; an event it rejects is skipped (and logged as such),
// never sent.
func TestSinkIfIsEvaluatedPerEvent(t *testing.T) {
	t.Setenv("PAPERFLOW_WEBHOOK_ALLOW", "127.0.0.1/32")
	b := newBus(t)
	e := newEngine(t, b)
	never := newReceiver(t, "", func(w http.ResponseWriter, id string, n int) bool {
		t.Errorf("the sink with if: false sent event %s", id)
		return ok(w, id, n)
	})
	docs := newReceiver(t, "", ok)
	wf := loadWorkflow(t, e, `name: sw
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: never
    uses: webhook
    if: "false"
    with: {url: "`+never.URL+`", retry: [10ms]}
  - id: emails
    uses: webhook
    if: '{{eventType == "EMAILS_CREATED"}}'
    with: {url: "`+never.URL+`", retry: [10ms]}
  - id: docs
    uses: webhook
    if: '{{eventType == "DOCUMENTS_CREATED"}}'
    with: {url: "`+docs.URL+`", retry: [10ms]}
`, "Name\nA\n", nil)
	for _, id := range []string{"never", "emails", "docs"} {
		startSink(t, b, e, wf, id, nil)
	}
	ids := publish(t, b, "sw", 3)
	docs.await(t, "the documents sink's deliveries", 10*time.Second, docs.allDelivered(ids))
	for _, sink := range []string{"sw/never", "sw/emails"} {
		as := awaitAttempts(t, b, sink, "3 attempts", func(as []delivery.Attempt) bool { return len(as) >= 3 })
		if n := countStatus(as, "skipped"); n != 3 || len(as) != 3 {
			t.Errorf("%s: %d attempts, %d skipped, want 3 skipped: %+v", sink, len(as), n, as)
		}
	}
	if never.total() != 0 {
		t.Errorf("%d requests reached the receiver of the rejected sinks", never.total())
	}
}
