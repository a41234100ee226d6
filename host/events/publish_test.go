package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// runJetStream starts a real nats-server with JetStream in a temp dir and
// returns its client URL; the server is shut down when the test ends.
func runJetStream(tb testing.TB) string {
	tb.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: tb.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		tb.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		tb.Fatal("nats-server not ready after 10s")
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s.ClientURL()
}

// connect opens a connection of its own, as a separate process would.
func connect(tb testing.TB, url string) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// eventsStream starts a server, creates the events stream and returns a
// Publisher on one connection and a JetStream handle on another.
func eventsStream(tb testing.TB) (*Publisher, jetstream.Stream, jetstream.JetStream) {
	tb.Helper()
	url := runJetStream(tb)
	js := connect(tb, url)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := EnsureStream(ctx, js, 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return NewPublisher(js, testValidator(tb)), stream, connect(tb, url)
}

func streamMsgs(tb testing.TB, s jetstream.Stream) uint64 {
	tb.Helper()
	info, err := s.Info(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.Msgs
}

func newEvent(tb testing.TB, item string, t Type) []byte {
	tb.Helper()
	meta := Metadata{Workflow: "hiring", RunID: "run_1", ItemID: item, BlockID: "contract"}
	_, raw, err := New(meta, t, exampleData(t))
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func TestPublish(t *testing.T) {
	t.Parallel()
	pub, stream, other := eventsStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// An independent subscriber, on its own connection, reading the stream.
	consumer, err := other.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{SubjectAll}})
	if err != nil {
		t.Fatal(err)
	}

	raw := newEvent(t, "row_1", SignaturesRequested)
	id, err := pub.Publish(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	// A retry, or the same item re-run after a crash, builds a new envelope
	// (a new created_at) with the same id: stored once.
	_, again, _ := New(Metadata{Workflow: "hiring", RunID: "run_1", ItemID: "row_1", BlockID: "contract", CreatedAt: time.Now().Add(time.Minute)},
		SignaturesRequested, exampleData(SignaturesRequested))
	if id2, err := pub.Publish(ctx, again); err != nil || id2 != id {
		t.Fatalf("second publish: id %s, err %v; want id %s, no error", id2, err, id)
	}
	if n := streamMsgs(t, stream); n != 1 {
		t.Fatalf("stream has %d messages after publishing one event twice, want 1", n)
	}

	bad := exampleEvent(t, SignaturesRequested)
	set("data/recipients/0/status", "COMPLETED")(t, bad)
	set("metadata/item_id", "row_2")(t, bad)
	badRaw, _ := json.Marshal(bad)
	if _, err := pub.Publish(ctx, badRaw); !errors.Is(err, ErrInvalid) || !hasLine(err, "data/recipients/0/status:") {
		t.Fatalf("invalid event: got %v, want ErrInvalid naming data/recipients/0/status", err)
	}
	if n := streamMsgs(t, stream); n != 1 {
		t.Fatalf("stream has %d messages after an invalid publish, want 1", n)
	}

	msg, err := consumer.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if want := Subject("hiring", SignaturesRequested); msg.Subject() != want {
		t.Errorf("subject %q, want %q", msg.Subject(), want)
	}
	if got := msg.Headers().Get(jetstream.MsgIDHeader); got != id {
		t.Errorf("Nats-Msg-Id %q, want %q", got, id)
	}
	if string(msg.Data()) != string(raw) {
		t.Errorf("subscriber got\n%s\nwant the published bytes\n%s", msg.Data(), raw)
	}
	if err := diskSchemas(t).validate(msg.Data()); err != nil {
		t.Errorf("received event does not match schemas/events on disk: %v", err)
	}
}

func TestPublishBatch(t *testing.T) {
	t.Parallel()
	pub, stream, _ := eventsStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var raws [][]byte
	for i := range 10 {
		raws = append(raws, newEvent(t, fmt.Sprintf("row_%d", i), Types[i%len(Types)]))
	}
	raws = append(raws, raws[3]) // a duplicate within the batch
	raws = append(raws, []byte(`{"eventType":"DOCUMENTS_CREATED"}`))
	bad := exampleEvent(t, EmailsCreated)
	set("data/emails/0/to", "")(t, bad)
	badRaw, _ := json.Marshal(bad)
	raws = append(raws, badRaw)

	errs := pub.PublishBatch(ctx, raws)
	if len(errs) != len(raws) {
		t.Fatalf("%d errors for %d events", len(errs), len(raws))
	}
	for i, err := range errs[:11] {
		if err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	for i, err := range errs[11:] {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("invalid event %d: got %v, want ErrInvalid", 11+i, err)
		}
	}
	if n := streamMsgs(t, stream); n != 10 {
		t.Errorf("stream has %d messages, want the 10 distinct valid events", n)
	}

	// Publishing the whole batch again stores nothing new.
	pub.PublishBatch(ctx, raws)
	if n := streamMsgs(t, stream); n != 10 {
		t.Errorf("after republishing, stream has %d messages, want 10", n)
	}
}

func TestPublishWithoutStreamFails(t *testing.T) {
	t.Parallel()
	js := connect(t, runJetStream(t))
	pub := NewPublisher(js, testValidator(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := pub.Publish(ctx, newEvent(t, "row_1", DocumentsCreated))
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("publish with no stream: got %v, want a publish error", err)
	}
	errs := pub.PublishBatch(ctx, [][]byte{newEvent(t, "row_2", DocumentsCreated)})
	if errs[0] == nil || errors.Is(errs[0], ErrInvalid) {
		t.Errorf("batch with no stream: got %v, want a publish error", errs[0])
	}
}

func TestEnsureStream(t *testing.T) {
	t.Parallel()
	js := connect(t, runJetStream(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tests := []struct {
		name            string
		replicas        int
		window          time.Duration
		wantWindow      time.Duration
		wantReplicasMin int
	}{
		{"defaults", 0, 0, time.Hour, 1},
		{"again, unchanged", 1, 0, time.Hour, 1},
		{"shorter window", 1, 2 * time.Minute, 2 * time.Minute, 1},
	}
	for _, tt := range tests {
		s, err := EnsureStream(ctx, js, tt.replicas, tt.window)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		cfg := s.CachedInfo().Config
		if cfg.Name != StreamName || len(cfg.Subjects) != 1 || cfg.Subjects[0] != SubjectAll ||
			cfg.Storage != jetstream.FileStorage || cfg.Retention != jetstream.LimitsPolicy ||
			cfg.Duplicates != tt.wantWindow || cfg.Replicas != tt.wantReplicasMin {
			t.Errorf("%s: config %+v", tt.name, cfg)
		}
	}
}

func BenchmarkPublishBatch(b *testing.B) {
	const batch = 64
	pub, _, _ := eventsStream(b)
	ctx := context.Background()
	item := 0
	nextBatch := func() [][]byte {
		raws := make([][]byte, batch)
		for i := range raws {
			item++
			raws[i] = newEvent(b, fmt.Sprintf("row_%d", item), DocumentsCreated)
		}
		return raws
	}

	// Baseline measured in the same run: the same events published one by
	// one, each waiting for its ack.
	const baselineEvents = 8 * batch
	start := time.Now()
	for range baselineEvents / batch {
		for _, raw := range nextBatch() {
			if _, err := pub.Publish(ctx, raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	oneByOne := float64(baselineEvents) / time.Since(start).Seconds()

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		raws := nextBatch()
		b.StartTimer()
		for _, err := range pub.PublishBatch(ctx, raws) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	perSecond := float64(b.N*batch) / b.Elapsed().Seconds()
	b.ReportMetric(perSecond, "events/s")
	b.ReportMetric(perSecond/oneByOne, "x-one-by-one")
}
