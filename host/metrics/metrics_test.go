package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/paperflow/paperflow/host/metrics"
)

// gather returns the registry's families by name.
func gather(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// TestRegistry records one of everything and checks that every metric is
// there, documented and well named.
func TestRegistry(t *testing.T) {
	metrics.ItemsDone("registry-test", metrics.Succeeded, 1)
	metrics.BlockCall("registry-test", "a", metrics.CallProcess, time.Now())
	metrics.BlockItemsHandled("registry-test", "a", metrics.Succeeded, 1)
	metrics.EventPublished("DOCUMENTS_CREATED")
	metrics.Delivery("registry-test/hook", metrics.Delivered)
	metrics.PluginRestarted("registry-test")
	metrics.HTTPRequests.WithLabelValues("/registry-test", "200").Inc()
	untrack := metrics.TrackQueue("registry-test/hook", func(context.Context) (uint64, uint64, error) { return 1, 2, nil })
	defer untrack()

	fams := gather(t)
	for _, name := range []string{
		"paperflow_items_total", "paperflow_block_call_seconds", "paperflow_block_items_total",
		"paperflow_events_published_total", "paperflow_deliveries_total", "paperflow_delivery_retry_pending",
		"paperflow_delivery_backlog", "paperflow_plugin_restarts_total", "paperflow_http_requests_total",
		"go_goroutines", "process_resident_memory_bytes", "process_open_fds",
	} {
		mf, ok := fams[name]
		if !ok {
			t.Errorf("%s is not registered", name)
			continue
		}
		if strings.HasPrefix(name, "paperflow_") && len(mf.GetHelp()) < 20 {
			t.Errorf("%s: HELP %q says too little", name, mf.GetHelp())
		}
	}
	problems, err := testutil.GatherAndLint(metrics.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "paperflow_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestBatchCounts adds a batch's count to its counter in one step, and
// nothing for an empty batch.
func TestBatchCounts(t *testing.T) {
	items := func() float64 { return testutil.ToFloat64(metrics.Items.WithLabelValues("batch-test", metrics.Failed)) }
	blockItems := func() float64 {
		return testutil.ToFloat64(metrics.BlockItems.WithLabelValues("batch-test", "a", metrics.Skipped))
	}
	for _, tc := range []struct {
		name  string
		add   func(n int)
		value func() float64
	}{
		{"items", func(n int) { metrics.ItemsDone("batch-test", metrics.Failed, n) }, items},
		{"block items", func(n int) { metrics.BlockItemsHandled("batch-test", "a", metrics.Skipped, n) }, blockItems},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, n := range []int{64, 0, 1} {
				before := tc.value()
				tc.add(n)
				if got := tc.value() - before; got != float64(n) {
					t.Errorf("adding %d: counter grew by %v", n, got)
				}
			}
		})
	}
}

func TestBlockCallObservesLatency(t *testing.T) {
	h := metrics.BlockCallSeconds.WithLabelValues("latency-test", "slow", metrics.CallDeliver)
	metrics.BlockCall("latency-test", "slow", metrics.CallDeliver, time.Now().Add(-300*time.Millisecond))
	var m dto.Metric
	if err := h.(interface{ Write(*dto.Metric) error }).Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetHistogram().GetSampleCount(); got != 1 {
		t.Errorf("sample count %d, want 1", got)
	}
	if got := m.GetHistogram().GetSampleSum(); got < 0.3 || got > 5 {
		t.Errorf("sample sum %.3fs, want about 0.3s", got)
	}
}

// TestInstrumentHTTP checks that requests are counted by route pattern, so
// ids in paths do not become label values.
func TestInstrumentHTTP(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /instr/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("POST /instr/items/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	srv := httptest.NewServer(metrics.InstrumentHTTP(mux))
	defer srv.Close()

	counter := func(route, code string) float64 {
		return testutil.ToFloat64(metrics.HTTPRequests.WithLabelValues(route, code))
	}
	tests := []struct {
		method, path string
		route, code  string
		times        int
	}{
		{"GET", "/instr/ok", "/instr/ok", "200", 1},
		{"POST", "/instr/items/1", "/instr/items/{id}", "202", 3},
		{"GET", "/instr/items/1", "unmatched", "405", 1}, // a wrong method matches no pattern
		{"GET", "/instr/nothing-here", "unmatched", "404", 2},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			before := counter(tc.route, tc.code)
			for range tc.times {
				req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if got := counter(tc.route, tc.code) - before; got != float64(tc.times) {
				t.Errorf("route %q code %s counted %v times, want %d", tc.route, tc.code, got, tc.times)
			}
		})
	}
}

func TestTrackQueue(t *testing.T) {
	const (
		target = "queue-test/hook"
		broken = "queue-test/broken"
	)
	value := func(name, target string) (float64, bool) {
		for _, m := range gather(t)[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "target" && l.GetValue() == target {
					return m.GetGauge().GetValue(), true
				}
			}
		}
		return 0, false
	}
	untrack := metrics.TrackQueue(target, func(context.Context) (uint64, uint64, error) { return 7, 40, nil })
	untrackAgain := metrics.TrackQueue(target, func(context.Context) (uint64, uint64, error) { return 7, 40, nil })
	untrackBroken := metrics.TrackQueue(broken, func(context.Context) (uint64, uint64, error) { return 0, 0, errors.New("no NATS") })
	defer untrackBroken()

	// Tracked twice (a target replaced while the old runner stops), it is
	// still one series: a registry refuses duplicates.
	if v, ok := value("paperflow_delivery_retry_pending", target); !ok || v != 7 {
		t.Errorf("retry pending = %v (reported: %v), want 7", v, ok)
	}
	if v, ok := value("paperflow_delivery_backlog", target); !ok || v != 40 {
		t.Errorf("backlog = %v (reported: %v), want 40", v, ok)
	}
	if _, ok := value("paperflow_delivery_retry_pending", broken); ok {
		t.Error("a queue that cannot be read is reported")
	}
	untrack()
	if _, ok := value("paperflow_delivery_retry_pending", target); !ok {
		t.Error("still tracked once, but not reported")
	}
	untrackAgain()
	if _, ok := value("paperflow_delivery_retry_pending", target); ok {
		t.Error("untracked, but still reported")
	}
}
