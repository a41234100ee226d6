package delivery_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/plugins/webhook/verify"
	"github.com/paperflow/paperflow/plugins/websend"
)

// Benchmarks of webhook delivery, each beside a baseline measured in the
// same run: a raw net/http client posting the same signed bodies to the
// same receiver.
//
//	go test -run '^$' -bench Delivery -benchtime 20000x ./host/delivery/
//
// BenchmarkDelivery reports deliveries/s from the events stream to a local
// receiver (every delivery signed, logged in the attempt log and acked) and
// the ratio to the raw client. BenchmarkDeliveryLatency publishes at a fixed
// 1,000 events/s for 3 s and reports p50/p99 from publish to receipt.
// "inhost" sends from the host (as subscriptions do); "block" goes through
// the webhook block's plugin process (as a workflow's sink does).

const benchSecret = "whsec_cGFwZXJmbG93IGJlbmNobWFyayBzZWNyZXQsIDMyIGI="

// benchReceiver counts deliveries and notes when each event arrived.
type benchReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	arrived map[string]time.Time
	want    int
	done    chan struct{}
}

func newBenchReceiver(b *testing.B, want int) *benchReceiver {
	r := &benchReceiver{arrived: make(map[string]time.Time, want), want: want, done: make(chan struct{})}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		now := time.Now()
		id := req.Header.Get("webhook-id")
		r.mu.Lock()
		if _, seen := r.arrived[id]; !seen {
			r.arrived[id] = now
			if len(r.arrived) == r.want {
				close(r.done)
			}
		}
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	r.Server.Config.MaxHeaderBytes = 1 << 16
	b.Cleanup(r.Close)
	return r
}

func (r *benchReceiver) wait(b *testing.B, timeout time.Duration) {
	select {
	case <-r.done:
	case <-time.After(timeout):
		r.mu.Lock()
		n := len(r.arrived)
		r.mu.Unlock()
		b.Fatalf("received %d of %d events in %s", n, r.want, timeout)
	}
}

// envelopes builds n valid events of workflow "bench".
func envelopes(b *testing.B, n int) (ids []string, raws [][]byte) {
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	for i := range n {
		env, raw, err := events.New(events.Metadata{Workflow: "bench", RunID: run, ItemID: strconv.Itoa(i), BlockID: "docs"},
			events.DocumentsCreated, map[string]any{"documents": []map[string]any{
				{"id": fmt.Sprintf("doc-%d", i), "url": "https://docs.example.com/d/" + strconv.Itoa(i), "name": fmt.Sprintf("Invoice %d.pdf", i), "mimetype": "application/pdf"},
			}})
		if err != nil {
			b.Fatal(err)
		}
		ids, raws = append(ids, env.EventID), append(raws, raw)
	}
	return ids, raws
}

// sinkFor returns the sink of the variant: an in-host sender or the block
// process.
func sinkFor(b *testing.B, variant string, bs *bus.Bus, url string) delivery.Sink {
	switch variant {
	case "inhost":
		s, err := websend.New(websend.Config{URL: url, Secret: benchSecret}, websend.Options{Allow: loopback})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(s.Close)
		return delivery.SDKSink(s)
	case "block":
		b.Setenv("PAPERFLOW_WEBHOOK_ALLOW", "127.0.0.1/32")
		e := newEngine(&testing.T{}, bs)
		blk, err := pluginhost.Start(context.Background(), pluginhost.Spec{
			Instance: pluginhost.Instance{Workflow: "bench", BlockID: "hook"}, Uses: "webhook", Path: filepath.Join(pluginDir(b), "webhook"),
			Config: []byte(`{"url":"` + url + `","secret":"` + benchSecret + `"}`),
		}, e, logger(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(blk.Close)
		return blk
	}
	b.Fatalf("variant %s", variant)
	return nil
}

func BenchmarkDelivery(b *testing.B) {
	for _, variant := range []string{"inhost", "block"} {
		b.Run(variant, func(b *testing.B) {
			n := max(b.N, 1000)
			ids, raws := envelopes(b, n)
			bs := newBus(b)
			v, _ := events.NewValidator()
			pub := events.NewPublisher(bs.JS, v)
			for i := 0; i < n; i += 1000 {
				for _, err := range pub.PublishBatch(context.Background(), raws[i:min(i+1000, n)]) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}

			// Raw baseline: the same signed bodies, straight to a receiver,
			// measured before and after the dispatcher (the mean of both
			// evens out a machine whose load changes meanwhile).
			rawRate := func() float64 {
				raw := newBenchReceiver(b, n)
				start := time.Now()
				postAll(b, raw.URL, ids, raws, 128)
				raw.wait(b, time.Minute)
				return float64(n) / time.Since(start).Seconds()
			}
			rawBefore := rawRate()

			rcv := newBenchReceiver(b, n)
			sink := sinkFor(b, variant, bs, rcv.URL)
			b.ResetTimer()
			start := time.Now()
			d, err := delivery.Start(context.Background(), delivery.Options{JS: bs.JS, Log: logger(b)},
				delivery.Target{Workflow: "bench", Name: "hook", Sink: sink})
			if err != nil {
				b.Fatal(err)
			}
			rcv.wait(b, 5*time.Minute)
			el := time.Since(start)
			b.StopTimer()
			d.Stop()
			if as, err := delivery.Attempts(context.Background(), bs.JS, delivery.AttemptQuery{Sink: "bench/hook", Limit: 10 * n}); err == nil {
				again := 0
				for _, a := range as {
					if a.Attempt > 1 || a.Status != "delivered" {
						again++
					}
				}
				if again > 0 {
					b.Logf("%d of %d attempts were not first-time deliveries (e.g. %+v)", again, len(as), as[len(as)-1])
				}
			}
			rate := float64(n) / el.Seconds()
			rawMean := (rawBefore + rawRate()) / 2
			b.ReportMetric(rate, "deliveries/s")
			b.ReportMetric(rawMean, "raw_posts/s")
			b.ReportMetric(100*rate/rawMean, "pct_of_raw")
		})
	}
}

// postAll posts every body, signed, with workers concurrent keep-alive
// connections.
func postAll(b *testing.B, url string, ids []string, raws [][]byte, workers int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}
	defer client.CloseIdleConnections()
	signer := verify.NewSigner(benchSecret)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				post(b, client, signer, url, ids[i], raws[i])
			}
		})
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
}

func post(b *testing.B, client *http.Client, signer *verify.Signer, url, id string, body []byte) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	signer.Sign(req.Header, id, time.Now().Unix(), body)
	resp, err := client.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func BenchmarkDeliveryLatency(b *testing.B) {
	const rate, seconds = 1000, 3
	n := rate * seconds
	for _, variant := range []string{"inhost", "block"} {
		b.Run(variant, func(b *testing.B) {
			ids, raws := envelopes(b, n)
			bs := newBus(b)
			v, _ := events.NewValidator()
			pub := events.NewPublisher(bs.JS, v)

			// Raw baseline at the same rate: send → receipt.
			raw := newBenchReceiver(b, n)
			client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}
			defer client.CloseIdleConnections()
			signer := verify.NewSigner(benchSecret)
			rawSent := paced(n, rate, func(i int) { go post(b, client, signer, raw.URL, ids[i], raws[i]) })
			raw.wait(b, time.Minute)

			rcv := newBenchReceiver(b, n)
			d, err := delivery.Start(context.Background(), delivery.Options{JS: bs.JS, Log: logger(b)},
				delivery.Target{Workflow: "bench", Name: "hook", Sink: sinkFor(b, variant, bs, rcv.URL), FromNow: true})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Stop()
			b.ResetTimer()
			published := paced(n, rate, func(i int) {
				if _, err := pub.Publish(context.Background(), raws[i]); err != nil {
					b.Error(err)
				}
			})
			rcv.wait(b, time.Minute)
			b.StopTimer()
			p50, p99 := percentiles(ids, published, rcv)
			r50, r99 := percentiles(ids, rawSent, raw)
			b.ReportMetric(p50, "p50_ms")
			b.ReportMetric(p99, "p99_ms")
			b.ReportMetric(r50, "raw_p50_ms")
			b.ReportMetric(r99, "raw_p99_ms")
		})
	}
}

// paced calls fn(i) for i in [0, n) at rate per second and returns when
// each call started.
func paced(n, rate int, fn func(i int)) []time.Time {
	at := make([]time.Time, n)
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		at[i] = time.Now()
		fn(i)
	}
	return at
}

func percentiles(ids []string, sent []time.Time, r *benchReceiver) (p50, p99 float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lat := make([]float64, 0, len(ids))
	for i, id := range ids {
		lat = append(lat, float64(r.arrived[id].Sub(sent[i]).Microseconds())/1000)
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}
