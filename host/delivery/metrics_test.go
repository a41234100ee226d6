package delivery_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/metrics"
	"github.com/paperflow/paperflow/plugins/websend"
)

// TestDeliveryMetrics runs one real target per outcome and checks what
// paperflow_deliveries_total and paperflow_delivery_retry_pending say.
// Its targets are its own, so other tests do not move its counters.
func TestDeliveryMetrics(t *testing.T) {
	t.Parallel()
	const workflow, events = "metrics-test", 3
	fail := func(code int) func(http.ResponseWriter, string, int) bool {
		return func(w http.ResponseWriter, _ string, _ int) bool {
			http.Error(w, "no", code)
			return false
		}
	}
	tests := []struct {
		name     string
		behave   func(http.ResponseWriter, string, int) bool
		only     []string // the sender's events: others are skipped
		schedule delivery.Schedule
		want     map[string]float64
		pending  float64
	}{
		{name: "flaky", schedule: fast, want: map[string]float64{metrics.Retry: events, metrics.Delivered: events},
			behave: func(w http.ResponseWriter, id string, n int) bool {
				if n == 1 {
					return fail(http.StatusInternalServerError)(w, id, n)
				}
				return ok(w, id, n)
			}},
		{name: "dead", behave: fail(http.StatusInternalServerError), schedule: delivery.Schedule{10 * time.Millisecond},
			want: map[string]float64{metrics.Retry: events, metrics.Dead: events}},
		{name: "gone", behave: fail(http.StatusGone), schedule: fast, want: map[string]float64{metrics.Disabled: events}},
		{name: "picky", behave: ok, only: []string{"EMAILS_CREATED"}, schedule: fast, want: map[string]float64{metrics.Skipped: events}},
		{name: "later", behave: fail(http.StatusServiceUnavailable), schedule: delivery.Schedule{time.Hour},
			want: map[string]float64{metrics.Retry: events}, pending: events},
	}
	b := newBus(t)
	var targets []delivery.Target
	for _, tc := range tests {
		rcv := newReceiver(t, "", tc.behave)
		targets = append(targets, sinkTo(t, workflow, tc.name, websend.Config{URL: rcv.URL, Events: tc.only}, tc.schedule))
	}
	outcomes := []string{metrics.Delivered, metrics.Skipped, metrics.Retry, metrics.Dead, metrics.Disabled}
	count := func(target, outcome string) float64 {
		return testutil.ToFloat64(metrics.Deliveries.WithLabelValues(target, outcome))
	}
	before := map[string]float64{}
	for _, tc := range tests {
		for _, o := range outcomes {
			before[tc.name+o] = count(workflow+"/"+tc.name, o)
		}
	}
	start(t, options(t, b), targets...)
	publish(t, b, workflow, events)

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := workflow + "/" + tc.name
			settled := func() bool {
				for _, o := range outcomes {
					if count(target, o)-before[tc.name+o] < tc.want[o] {
						return false
					}
				}
				return true
			}
			for deadline := time.Now().Add(10 * time.Second); !settled() && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // would more follow?
			for _, o := range outcomes {
				if got := count(target, o) - before[tc.name+o]; got != tc.want[o] {
					t.Errorf("deliveries{outcome=%q} = %v, want %v", o, got, tc.want[o])
				}
			}
			if got := retryPending(t, target); got != tc.pending {
				t.Errorf("retry pending = %v, want %v", got, tc.pending)
			}
		})
	}
}

// retryPending is paperflow_delivery_retry_pending{target} as a scrape
// reads it.
func retryPending(t *testing.T, target string) float64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "paperflow_delivery_retry_pending" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "target" && l.GetValue() == target {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no paperflow_delivery_retry_pending for %s", target)
	return 0
}
