package delivery_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/plugins/webhook/verify"
	"github.com/paperflow/paperflow/plugins/websend"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// newBus starts an embedded NATS with JetStream in a temp dir.
func newBus(t testing.TB) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := delivery.EnsureStreams(context.Background(), b.JS, 1); err != nil {
		t.Fatal(err)
	}
	return b
}

func logger(t testing.TB) *slog.Logger {
	return hosttest.Logger(t, slog.LevelWarn)
}

func options(t testing.TB, b *bus.Bus) delivery.Options {
	return delivery.Options{JS: b.JS, Log: logger(t), AckWait: 5 * time.Second, StopGrace: 2 * time.Second}
}

// publish publishes n valid DOCUMENTS_CREATED events of workflow and
// returns their ids.
func publish(t testing.TB, b *bus.Bus, workflow string, n int) []string {
	t.Helper()
	v, err := events.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	p := events.NewPublisher(b.JS, v)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	ids := make([]string, n)
	for i := range n {
		_, raw, err := events.New(events.Metadata{Workflow: workflow, RunID: run, ItemID: strconv.Itoa(i), BlockID: "docs"},
			events.DocumentsCreated, map[string]any{"documents": []map[string]any{
				{"id": fmt.Sprintf("doc-%d", i), "url": "http://127.0.0.1/doc", "name": fmt.Sprintf("Invoice %d.pdf", i), "mimetype": "application/pdf"},
			}})
		if err != nil {
			t.Fatal(err)
		}
		if ids[i], err = p.Publish(context.Background(), raw); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// receiver is a real HTTP endpoint on 127.0.0.1. behave decides the answer
// to the n-th request (from 1) for an event id; it verifies every request's
// signatures with the verify package, an independent Stripe-style check
// and the Standard Webhooks reference library.
type receiver struct {
	*httptest.Server
	t      testing.TB
	secret string
	behave func(w http.ResponseWriter, id string, n int) bool // true: a 2xx was written

	mu        sync.Mutex
	requests  map[string]int // per event id
	delivered map[string]int // 2xx answers per event id
	times     map[string][]time.Time
	bodies    map[string][]byte
	signal    chan struct{}
}

func newReceiver(t testing.TB, secret string, behave func(w http.ResponseWriter, id string, n int) bool) *receiver {
	r := &receiver{t: t, secret: secret, behave: behave, requests: map[string]int{}, delivered: map[string]int{},
		times: map[string][]time.Time{}, bodies: map[string][]byte{}, signal: make(chan struct{}, 1)}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func ok(w http.ResponseWriter, _ string, _ int) bool {
	_, _ = io.WriteString(w, "ok")
	return true
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	if r.secret != "" {
		if err := r.checkSignatures(req.Header, body); err != nil {
			r.t.Errorf("receiver: %v", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
	}
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	r.requests[id]++
	n := r.requests[id]
	r.times[id] = append(r.times[id], time.Now())
	r.bodies[id] = body
	r.mu.Unlock()
	good := r.behave(w, id, n)
	r.mu.Lock()
	if good {
		r.delivered[id]++
	}
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

func (r *receiver) checkSignatures(h http.Header, body []byte) error {
	if err := (verify.Verifier{Secrets: []string{r.secret}}).Verify(h, body); err != nil {
		return fmt.Errorf("verify package: %w", err)
	}
	if err := stripeStyleCheck(h.Get("X-Webhook-Signature"), body, r.secret); err != nil {
		return fmt.Errorf("independent t=,v1= check: %w", err)
	}
	wh, err := standardwebhooks.NewWebhookRaw(verify.StandardKey(r.secret))
	if err != nil {
		return err
	}
	if err := wh.Verify(body, h); err != nil {
		return fmt.Errorf("standard-webhooks library: %w", err)
	}
	return nil
}

// stripeStyleCheck is a minimal, independent implementation of the
// Stripe-style check a third-party receiver would make: split the header,
// recompute HMAC-SHA256(secret, "<t>.<body>") and compare with any v1.
func stripeStyleCheck(header string, body []byte, secret string) error {
	var ts string
	var sigs []string
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("bad timestamp %q", ts)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(m.Sum(nil))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no v1 matches in %q", header)
}

func (r *receiver) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

func (r *receiver) counts(id string) (requests, delivered int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[id], r.delivered[id]
}

// await waits until cond holds, checking whenever a request came in.
func (r *receiver) await(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-r.signal:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

func (r *receiver) allDelivered(ids []string) func() bool {
	return func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, id := range ids {
			if r.delivered[id] == 0 {
				return false
			}
		}
		return true
	}
}

// sinkTo is an in-host webhook sender to url, as a delivery target.
func sinkTo(t testing.TB, workflow, name string, cfg websend.Config, sched delivery.Schedule) delivery.Target {
	t.Helper()
	s, err := websend.New(cfg, websend.Options{Allow: loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return delivery.Target{Workflow: workflow, Name: name, Sink: delivery.SDKSink(s), Schedule: sched}
}

func start(t testing.TB, o delivery.Options, targets ...delivery.Target) *delivery.Dispatcher {
	t.Helper()
	d, err := delivery.Start(context.Background(), o, targets...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

// attempts reads the attempt log of one sink until cond holds.
func awaitAttempts(t testing.TB, b *bus.Bus, sink string, what string, cond func([]delivery.Attempt) bool) []delivery.Attempt {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		as, err := delivery.Attempts(context.Background(), b.JS, delivery.AttemptQuery{Sink: sink, Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		if cond(as) {
			return as
		}
		if time.Now().After(deadline) {
			raw, _ := json.MarshalIndent(as, "", " ")
			t.Fatalf("attempt log never showed %s; it has:\n%s", what, raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
