package delivery_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/delivery"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
	"github.com/paperflow/paperflow/plugins/webhook/verify"
	"github.com/paperflow/paperflow/plugins/websend"
)

var fast = delivery.Schedule{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}

func TestEveryEventDeliveredOnceSigned(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	secret := verify.GenerateSecret()
	rcv := newReceiver(t, secret, ok)
	ids := publish(t, b, "invoices", 200) // published before the sink starts: a new sink takes what is kept
	start(t, options(t, b), sinkTo(t, "invoices", "notify", websend.Config{URL: rcv.URL, Secret: secret}, fast))
	publish(t, b, "other", 5) // another workflow's events are not this sink's
	more := publish(t, b, "invoices", 50)
	ids = append(ids, more...)
	rcv.await(t, "every event", 20*time.Second, rcv.allDelivered(ids))

	as := awaitAttempts(t, b, "invoices/notify", "250 deliveries", func(as []delivery.Attempt) bool { return len(as) >= 250 })
	time.Sleep(100 * time.Millisecond) // would a duplicate follow?
	for _, id := range ids {
		if req, del := rcv.counts(id); req != 1 || del != 1 {
			t.Errorf("event %s: %d requests, %d delivered; want exactly one", id, req, del)
		}
	}
	if rcv.total() != len(ids) {
		t.Errorf("receiver saw %d events, want %d (other workflows must not be sent)", rcv.total(), len(ids))
	}
	a := as[0]
	if a.Status != "delivered" || a.HTTPStatus != 200 || a.Attempt != 1 || a.Response != "ok" || a.LatencyMS <= 0 || a.EventType != "DOCUMENTS_CREATED" || a.Seq == 0 {
		t.Errorf("attempt record %+v", a)
	}
}

func TestFailingReceiverRetriedThenDeliveredOnce(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	const failures = 3
	rcv := newReceiver(t, "s3cret", func(w http.ResponseWriter, id string, n int) bool {
		if n <= failures {
			http.Error(w, "down for maintenance", http.StatusInternalServerError)
			return false
		}
		return ok(w, id, n)
	})
	start(t, options(t, b), sinkTo(t, "wf", "hook", websend.Config{URL: rcv.URL, Secret: "s3cret"}, fast))
	ids := publish(t, b, "wf", 20)
	rcv.await(t, "every event after retries", 10*time.Second, rcv.allDelivered(ids))
	as := awaitAttempts(t, b, "wf/hook", "4 attempts per event", func(as []delivery.Attempt) bool { return len(as) >= 4*len(ids) })
	time.Sleep(100 * time.Millisecond)
	for _, id := range ids {
		if req, del := rcv.counts(id); req != failures+1 || del != 1 {
			t.Errorf("event %s: %d requests, %d delivered; want %d and 1", id, req, del, failures+1)
		}
	}
	for _, a := range as {
		want := "retry"
		if a.Attempt == failures+1 {
			want = "delivered"
		}
		if a.Status != want || (want == "retry" && (a.HTTPStatus != 500 || a.NextAttempt == nil || !strings.Contains(a.Response, "maintenance"))) {
			t.Errorf("attempt %d of %s: %+v", a.Attempt, a.EventID, a)
		}
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	rcv := newReceiver(t, "", func(w http.ResponseWriter, id string, n int) bool {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return false
		}
		return ok(w, id, n)
	})
	start(t, options(t, b), sinkTo(t, "wf", "hook", websend.Config{URL: rcv.URL}, fast))
	ids := publish(t, b, "wf", 1)
	rcv.await(t, "the retry", 10*time.Second, rcv.allDelivered(ids))
	rcv.mu.Lock()
	gap := rcv.times[ids[0]][1].Sub(rcv.times[ids[0]][0])
	rcv.mu.Unlock()
	if gap < 950*time.Millisecond {
		t.Errorf("retried after %s despite Retry-After: 1 (the schedule says 10ms)", gap)
	}
}

func TestHangingReceiverTimesOut(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	release := make(chan struct{})
	rcv := newReceiver(t, "", func(w http.ResponseWriter, id string, n int) bool {
		if n == 1 {
			<-release
			return false
		}
		return ok(w, id, n)
	})
	t.Cleanup(func() { close(release) }) // runs before the receiver's Close, which waits for handlers
	start(t, options(t, b), sinkTo(t, "wf", "hook", websend.Config{URL: rcv.URL, Timeout: "200ms"}, fast))
	ids := publish(t, b, "wf", 1)
	rcv.await(t, "delivery after the timeout", 10*time.Second, rcv.allDelivered(ids))
	as := awaitAttempts(t, b, "wf/hook", "two attempts", func(as []delivery.Attempt) bool { return len(as) >= 2 })
	if as[0].Status != "retry" || !strings.Contains(as[0].Reason, "no response within the timeout of 200ms") {
		t.Errorf("first attempt: %+v", as[0])
	}
	if as[1].Status != "delivered" {
		t.Errorf("second attempt: %+v", as[1])
	}
}

func TestGoneDisablesTheEndpoint(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	rcv := newReceiver(t, "", func(w http.ResponseWriter, _ string, _ int) bool {
		w.WriteHeader(http.StatusGone)
		return false
	})
	start(t, options(t, b), sinkTo(t, "wf", "hook", websend.Config{URL: rcv.URL}, fast))
	first := publish(t, b, "wf", 1)
	awaitAttempts(t, b, "wf/hook", "the 410", func(as []delivery.Attempt) bool { return len(as) == 1 })
	later := publish(t, b, "wf", 3)
	as := awaitAttempts(t, b, "wf/hook", "4 failures", func(as []delivery.Attempt) bool { return len(as) == 4 })
	for _, a := range as {
		if a.Status != "failed" || !a.DeadLettered || a.Attempt != 1 {
			t.Errorf("attempt %+v: want failed at once and dead-lettered", a)
		}
	}
	if !strings.Contains(as[0].Reason, "410 Gone: endpoint disabled") || !strings.Contains(as[3].Reason, "endpoint disabled") {
		t.Errorf("reasons %q, %q", as[0].Reason, as[3].Reason)
	}
	if rcv.total() != 1 {
		t.Errorf("the endpoint was called %d times; after 410 it must not be called again", rcv.total())
	}
	dls, err := delivery.DeadLetters(context.Background(), b.JS, "wf/hook")
	if err != nil || len(dls) != 4 {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}
	// The three later events are delivered concurrently: their dead
	// letters may come in any order.
	laterIDs := map[string]bool{}
	for _, id := range later {
		laterIDs[id] = true
	}
	for _, dl := range dls[1:] {
		if !laterIDs[dl.EventID] {
			t.Errorf("dead letter %s is not one of the later events", dl.EventID)
		}
		delete(laterIDs, dl.EventID)
	}
	if dls[0].EventID != first[0] || dls[0].Attempts != 1 || len(laterIDs) != 0 {
		t.Errorf("dead letters %+v", dls)
	}
}

func TestDeadLetterThenReplay(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	var up bool
	rcv := newReceiver(t, "", func(w http.ResponseWriter, id string, n int) bool {
		if !up {
			w.WriteHeader(http.StatusBadGateway)
			return false
		}
		return ok(w, id, n)
	})
	sched := delivery.Schedule{10 * time.Millisecond, 10 * time.Millisecond}
	d := start(t, options(t, b), sinkTo(t, "wf", "hook", websend.Config{URL: rcv.URL}, sched))
	ids := publish(t, b, "wf", 3)
	as := awaitAttempts(t, b, "wf/hook", "3 attempts per event", func(as []delivery.Attempt) bool { return len(as) == 9 })
	for _, a := range as {
		if a.DeadLettered != (a.Attempt == 3) {
			t.Errorf("attempt %+v: dead-lettered only after the last attempt", a)
		}
	}
	dls, err := delivery.DeadLetters(context.Background(), b.JS)
	if err != nil || len(dls) != 3 || !strings.Contains(dls[0].Reason, "gave up after 3 attempts; last: 502 Bad Gateway") {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}

	rcv.mu.Lock()
	up = true
	rcv.mu.Unlock()
	n, err := d.ReplayDeadLetters(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("replay dead letters: %d, %v", n, err)
	}
	rcv.await(t, "the replayed events", 10*time.Second, rcv.allDelivered(ids))
	if dls, _ := delivery.DeadLetters(context.Background(), b.JS); len(dls) != 0 {
		t.Errorf("replayed dead letters are still there: %+v", dls)
	}

	// A delivered event can be replayed by id, too.
	refs, err := d.Replay(context.Background(), ids[0])
	if err != nil || len(refs) != 1 || refs[0] != "wf/hook" {
		t.Fatalf("replay: %v, %v", refs, err)
	}
	rcv.await(t, "the replayed event", 10*time.Second, func() bool { _, del := rcv.counts(ids[0]); return del == 2 })
	as = awaitAttempts(t, b, "wf/hook", "the replay's attempt", func(as []delivery.Attempt) bool { return len(as) == 13 })
	if last := as[len(as)-1]; !last.Replay || last.Status != "delivered" || last.Attempt != 1 {
		t.Errorf("replay attempt %+v", last)
	}
	if _, err := d.Replay(context.Background(), strings.Repeat("0", 48)); err == nil {
		t.Error("replaying an unknown event succeeded")
	}
}

// TestRestartDuringRetryWait stops the dispatcher while an event waits for
// its retry and starts a new one on the same NATS: the wait is kept by the
// server, so the retry happens, once.
func TestRestartDuringRetryWait(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	rcv := newReceiver(t, "", func(w http.ResponseWriter, id string, n int) bool {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		}
		return ok(w, id, n)
	})
	sched := delivery.Schedule{1500 * time.Millisecond}
	cfg := websend.Config{URL: rcv.URL}
	first, err := delivery.Start(context.Background(), options(t, b), sinkTo(t, "wf", "hook", cfg, sched))
	if err != nil {
		t.Fatal(err)
	}
	ids := publish(t, b, "wf", 5)
	rcv.await(t, "the first attempts", 10*time.Second, func() bool {
		for _, id := range ids {
			if n, _ := rcv.counts(id); n == 0 {
				return false
			}
		}
		return true
	})
	stoppedAt := time.Now()
	first.Stop()

	start(t, options(t, b), sinkTo(t, "wf", "hook", cfg, sched)) // a new host
	rcv.await(t, "the retries", 10*time.Second, rcv.allDelivered(ids))
	time.Sleep(300 * time.Millisecond)
	for _, id := range ids {
		if req, del := rcv.counts(id); req != 2 || del != 1 {
			t.Errorf("event %s: %d requests, %d delivered; want 2 and 1", id, req, del)
		}
		rcv.mu.Lock()
		at := rcv.times[id][1]
		rcv.mu.Unlock()
		if at.Before(stoppedAt) {
			t.Errorf("event %s was retried before the restart", id)
		}
	}
}

func TestConsumerFollowsTheSinkEvents(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	rcv := newReceiver(t, "", ok)
	sink := sinkTo(t, "wf", "hook", websend.Config{URL: rcv.URL, Events: []string{"EMAILS_CREATED"}}, nil).Sink
	tgt, err := delivery.SinkTarget("wf", "hook", declaring{sink, &blockv1.SinkPolicy{Events: []string{"EMAILS_CREATED"}, RetryMs: []int64{5, 3_600_000}}})
	if err != nil || len(tgt.Events) != 1 || len(tgt.Schedule) != 2 || tgt.Schedule[1] != time.Hour {
		t.Fatalf("SinkTarget: %+v, %v", tgt, err)
	}
	if _, err := delivery.SinkTarget("wf", "hook", declaring{sink, &blockv1.SinkPolicy{RetryMs: []int64{-1}}}); err == nil {
		t.Error("a negative wait accepted")
	}
	if plain, err := delivery.SinkTarget("wf", "hook", sink); err != nil || plain.Events != nil || len(plain.Schedule) != len(delivery.DefaultSchedule) {
		t.Errorf("a sink that declares nothing: %+v, %v; want every type on the default schedule", plain, err)
	}
	start(t, options(t, b), tgt)
	publish(t, b, "wf", 3) // DOCUMENTS_CREATED: not taken by the consumer at all
	time.Sleep(200 * time.Millisecond)
	if rcv.total() != 0 {
		t.Errorf("events outside the sink's types were sent")
	}
	if as, _ := delivery.Attempts(context.Background(), b.JS, delivery.AttemptQuery{Sink: "wf/hook"}); len(as) != 0 {
		t.Errorf("events outside the sink's types were attempted: %+v", as)
	}
}

func TestSchedule(t *testing.T) {
	s := delivery.Schedule{time.Second, 10 * time.Second}
	if s.MaxAttempts() != 3 {
		t.Errorf("max attempts %d", s.MaxAttempts())
	}
	for n, want := range map[uint64]time.Duration{1: time.Second, 2: 10 * time.Second} {
		for range 20 {
			d, ok := s.Delay(n)
			if !ok || d < want*9/10 || d > want*11/10 {
				t.Fatalf("Delay(%d) = %s, %v; want %s ±10%%", n, d, ok, want)
			}
		}
	}
	if _, ok := s.Delay(3); ok {
		t.Error("a delay after the last attempt")
	}
	if d, err := delivery.ParseSchedule(nil); err != nil || len(d) != 5 || d[4] != 12*time.Hour {
		t.Errorf("default schedule %v %v", d, err)
	}
}

func TestResolveSecrets(t *testing.T) {
	secrets := map[string]string{"TOKEN": "t0k3n", "HOOK": "https://example.com/h?key=k3y", "WEIRD": `a{{b}}"c`}
	lookup := func(n string) (string, bool) { v, ok := secrets[n]; return v, ok }
	in := `{"url":"{{ .secrets.HOOK }}","headers":{"Authorization":"Bearer {{ .secrets.TOKEN }}","X-Odd":"{{ .secrets.WEIRD }}"},` +
		`"body":"{\"id\":\"{{eventId}}\",\"t\":\"{{ .secrets.TOKEN | upper }}\"}","retry":["1m"],"n":1.50}`
	out, err := delivery.ResolveSecrets([]byte(in), lookup)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"body":"{\"id\":\"{{eventId}}\",\"t\":\"T0K3N\"}","headers":{"Authorization":"Bearer t0k3n","X-Odd":"a{{\"{{\"}}b}}\"c"},"n":1.50,"retry":["1m"],"url":"https://example.com/h?key=k3y"}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	// The sink renders the escaped value back to the secret as it is.
	odd, _ := tags.Parse(`a{{"{{"}}b}}"c`)
	if got, _ := odd.Render(tags.Scope{}); got != secrets["WEIRD"] {
		t.Errorf("escaped secret renders as %q", got)
	}
	for _, bad := range []string{`{"url":"{{ .secrets.MISSING }}"}`, `{"url":"{{#if .secrets.TOKEN}}x{{/if}}"}`} {
		_, err := delivery.ResolveSecrets([]byte(bad), lookup)
		if err == nil || strings.Contains(err.Error(), "t0k3n") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// declaring is a sink that declared a policy in Configure, as a sink
// block's process does (ConfigureResponse.sink).
type declaring struct {
	delivery.Sink
	p *blockv1.SinkPolicy
}

func (d declaring) SinkPolicy() *blockv1.SinkPolicy { return d.p }
