package delivery_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
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

// pendingFor is the number of events the consumer of workflow/sink has not
// handed out yet.
func pendingFor(t *testing.T, b *bus.Bus, workflow, sink string) uint64 {
	t.Helper()
	ctx := context.Background()
	s, err := b.JS.Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	l := s.ListConsumers(ctx)
	for info := range l.Info() {
		if info.Config.Metadata["paperflow.workflow"] == workflow && info.Config.Metadata["paperflow.sink"] == sink {
			return info.NumPending
		}
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("no consumer for %s/%s", workflow, sink)
	return 0
}

// TestDisabledSinkHoldsEvents: a sink with enabled: false delivers nothing
// and its consumer holds the events; enabled again, it delivers them, or
// with backfill: false skips them and delivers only what comes after.
func TestDisabledSinkHoldsEvents(t *testing.T) {
	t.Setenv("PAPERFLOW_WEBHOOK_ALLOW", "127.0.0.1/32")
	b := newBus(t)
	e := newEngine(t, b)
	held := newReceiver(t, "", ok)
	skipped := newReceiver(t, "", ok)
	file := func(enabled bool) string {
		return fmt.Sprintf(`name: held
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: held, uses: webhook, enabled: %[1]t, with: {url: "%[2]s", retry: [10ms]}}
  - {id: skipper, uses: webhook, enabled: %[1]t, backfill: false, with: {url: "%[3]s", retry: [10ms]}}
`, enabled, held.URL, skipped.URL)
	}
	off := loadWorkflow(t, e, file(false), "Name\nA\n", nil)
	_, heldOff := startSink(t, b, e, off, "held", nil)
	_, skipperOff := startSink(t, b, e, off, "skipper", nil)
	ids := publish(t, b, "held", 3)
	for _, sink := range []string{"held", "skipper"} {
		if n := pendingFor(t, b, "held", sink); n != 3 {
			t.Fatalf("%s holds %d events, want 3", sink, n)
		}
	}
	if len(heldOff.Targets())+len(skipperOff.Targets()) != 0 {
		t.Errorf("disabled sinks run: %v %v", heldOff.Targets(), skipperOff.Targets())
	}
	// Disabled again (a restart of the host): still held, nothing sent.
	startSink(t, b, e, off, "skipper", nil)
	if n := pendingFor(t, b, "held", "skipper"); n != 3 {
		t.Fatalf("skipper holds %d events after a restart, want 3", n)
	}

	on := loadWorkflow(t, e, file(true), "Name\nA\n", nil)
	startSink(t, b, e, on, "held", nil)
	startSink(t, b, e, on, "skipper", nil)
	held.await(t, "the held events", 10*time.Second, held.allDelivered(ids))
	later := publish(t, b, "held", 1)
	skipped.await(t, "the event after enabling", 10*time.Second, skipped.allDelivered(later))
	held.await(t, "the event after enabling", 10*time.Second, held.allDelivered(later))
	for _, id := range ids {
		if n, _ := skipped.counts(id); n != 0 {
			t.Errorf("backfill: false delivered held event %s", id)
		}
	}
	if held.total() != 4 || skipped.total() != 1 {
		t.Errorf("requests: held %d (want 4), skipper %d (want 1)", held.total(), skipped.total())
	}
}

// TestDisabledStepIsSkipped: a step with enabled: false runs for no item
// (it emits nothing), while the run goes on and an enabled twin runs.
func TestDisabledStepIsSkipped(t *testing.T) {
	b := newBus(t)
	e := newEngine(t, b)
	wf := loadWorkflow(t, e, `name: stepoff
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: off, uses: testblock, enabled: false, with: {emit: true}}
  - {id: on, uses: testblock, with: {emit: true}}
`, "Name\nA\nB\n", nil)
	sum, err := e.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Succeeded != 2 || sum.Events["DOCUMENTS_CREATED"] != 2 {
		t.Errorf("run: %+v, want 2 items and 2 events (from the enabled step only)", sum)
	}
}
