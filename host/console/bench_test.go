package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/console"
	"github.com/paperflow/paperflow/host/engine"
)

// seeded is a console over NATS holding many runs, written as the engine
// writes them (run records in the runs bucket, outcome batches on the
// outcomes stream), without running blocks.
type seeded struct {
	handler http.Handler
	cookie  string
	bigRun  string
}

func seed(b *testing.B, runs, bigItems int) *seeded {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	bs, err := bus.Open(ctx, bus.Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(bs.Close)
	store, err := bs.EnsureStore(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var futures []jetstream.PubAckFuture
	publish := func(subject string, v any) {
		raw, _ := json.Marshal(v)
		f, err := bs.JS.PublishAsync(subject, raw)
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
		if len(futures) >= 4096 {
			wait(b, futures)
			futures = futures[:0]
		}
	}
	start := time.Now().Add(-time.Duration(runs) * time.Minute).UTC()
	type outcome struct {
		Item   string         `json:"item"`
		Origin string         `json:"origin"`
		Status string         `json:"status"`
		Block  string         `json:"block,omitempty"`
		Error  string         `json:"error,omitempty"`
		Events map[string]int `json:"events,omitempty"`
	}
	record := func(id, wf string, items int, created time.Time) {
		publish("$KV."+bus.RunsBucket+"."+id, map[string]any{
			"id": id, "workflow": wf, "file": "/srv/workflows/" + wf + ".yaml", "status": "completed",
			"enqueued": items, "source_done": true, "created": created, "finished": created.Add(42 * time.Second),
		})
		var batch []outcome
		for i := 1; i <= items; i++ {
			o := outcome{Item: fmt.Sprint(i), Origin: fmt.Sprintf("people.csv:%d", i+1), Status: "succeeded", Events: map[string]int{"DOCUMENTS_CREATED": 1, "EMAILS_CREATED": 1}}
			if i%97 == 0 {
				o = outcome{Item: o.Item, Origin: o.Origin, Status: "failed", Block: "mail", Error: "mail: no address in field Email"}
			}
			batch = append(batch, o)
			if len(batch) == 64 || i == items {
				publish(bus.OutcomesSubject(id), batch)
				batch = nil
			}
		}
	}
	for i := range runs {
		created := start.Add(time.Duration(i) * time.Minute)
		record(fmt.Sprintf("%s-%08x", created.Format("20060102-150405"), i), []string{"invoices", "email", "hello"}[i%3], 5, created)
	}
	s := &seeded{bigRun: "20990101-000000-bigrun00"}
	record(s.bigRun, "invoices", bigItems, time.Now().UTC())
	wait(b, futures)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sessions, err := console.OpenSessions(ctx, bs)
	if err != nil {
		b.Fatal(err)
	}
	s.handler = console.New(console.Options{Token: testToken, Sessions: sessions, Runs: engine.NewReader(ctx, store, bs.JS, log), Log: log})
	rec := httptest.NewRecorder()
	login := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"token": {testToken}}.Encode()))
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	s.handler.ServeHTTP(rec, login)
	for _, c := range rec.Result().Cookies() {
		s.cookie = c.Name + "=" + c.Value
	}
	if s.cookie == "" {
		b.Fatal("no session cookie")
	}
	return s
}

func wait(b *testing.B, fs []jetstream.PubAckFuture) {
	for _, f := range fs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatal(err)
		}
	}
}

// measure serves path b.N times and reports the 50th and 95th percentile
// latencies, and the first (cold) request's.
func (s *seeded) measure(b *testing.B, path, want string) {
	get := func() time.Duration {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Cookie", s.cookie)
		rec := httptest.NewRecorder()
		t0 := time.Now()
		s.handler.ServeHTTP(rec, req)
		d := time.Since(t0)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			b.Fatalf("GET %s: %d, want 200 with %q", path, rec.Code, want)
		}
		return d
	}
	first := get()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		lat = append(lat, get())
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
}

// BenchmarkConsoleRunList is the runs page over 10,000 runs: the first
// page, a page deep in the list, and one workflow's runs.
func BenchmarkConsoleRunList(b *testing.B) {
	s := seed(b, 10_000, 10)
	b.Run("page=1", func(b *testing.B) { s.measure(b, "/runs", "Page 1 of") })
	b.Run("page=150", func(b *testing.B) { s.measure(b, "/runs?page=150", "Page 150 of") })
	b.Run("workflow=email", func(b *testing.B) { s.measure(b, "/runs?workflow=email&page=20", "Page 20 of") })
}

// BenchmarkConsoleRunPage is the page of a run with 100,000 items: the
// first page, the last, and its failed items.
func BenchmarkConsoleRunPage(b *testing.B) {
	s := seed(b, 10, 100_000)
	b.Run("page=1", func(b *testing.B) { s.measure(b, "/runs/"+s.bigRun, "Page 1 of 2000") })
	b.Run("page=2000", func(b *testing.B) { s.measure(b, "/runs/"+s.bigRun+"?page=2000", "Page 2000 of 2000") })
	b.Run("status=failed", func(b *testing.B) { s.measure(b, "/runs/"+s.bigRun+"?status=failed&page=10", "Page 10 of") })
}
