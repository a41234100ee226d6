// Package metrics holds paperflow's Prometheus metrics: one registry with
// the host's own collectors (named paperflow_*), the Go runtime's (go_*)
// and the process's (process_*). The HTTP server serves it at /metrics;
// the other packages record what happens through the small functions here,
// so label names and values are spelled in one place.
//
// Labels are bounded: workflow names, block ids, `uses:` names, event types,
// sink names and route patterns, never item, run or event ids.
//
// Counters are process-wide: tests that share a process see each other's
// increments, so they assert on differences.
package metrics

import (
	"context"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds every paperflow metric plus the Go and process
// collectors; Handler serves it.
var Registry = prometheus.NewRegistry()

// Outcomes of an item, a block's item, and a delivery attempt.
const (
	Succeeded = "succeeded"
	Failed    = "failed"
	Retry     = "retry"
	Skipped   = "skipped"
	Delivered = "delivered"
	Dead      = "dead"
	Disabled  = "disabled"
)

// deliveryOutcomes are the outcomes of paperflow_deliveries_total.
var deliveryOutcomes = []string{Delivered, Skipped, Retry, Dead, Disabled}

// Kinds of block call, for BlockCall.
const (
	CallProcess = "process"
	CallDeliver = "deliver"
	CallRead    = "read"
)

var (
	// Items counts items that finished a run, by outcome (succeeded,
	// failed). An item to be retried later is not counted until it ends.
	Items = counter("paperflow_items_total",
		"Items that finished a run, by workflow and outcome (succeeded or failed).",
		"workflow", "outcome")

	// BlockCallSeconds is the latency of one batch call into a block: a
	// Process or Deliver batch, one batch of a source's Read stream, or an
	// HTTP request or scheduled callback handed to the block.
	BlockCallSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "paperflow_block_call_seconds",
		Help: "Latency of one batch call into a block, by workflow, block id and kind (process, deliver, read, http, scheduled); restarts and retries of a crashed block are included.",
		// From a no-op batch (~0.2 ms) to a batch of PDFs or a hung block.
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
	}, []string{"workflow", "block", "kind"})

	// BlockItems counts the items a step block handled, by outcome
	// (succeeded, failed, retry, skipped).
	BlockItems = counter("paperflow_block_items_total",
		"Items a step block handled, by workflow, block id and outcome (succeeded, failed, retry, skipped).",
		"workflow", "block", "outcome")

	// EventsPublished counts events stored in PAPERFLOW_EVENTS.
	EventsPublished = counter("paperflow_events_published_total",
		"Events validated and stored in the PAPERFLOW_EVENTS stream, by event type; a repeated publish that JetStream drops as a duplicate is not counted.",
		"type")

	// Deliveries counts delivery attempts by their outcome.
	Deliveries = counter("paperflow_deliveries_total",
		"Delivery attempts of events to a sink or subscription (target workflow/sink), by outcome: delivered, skipped (not for this target), retry (tried again later), dead (sent to the dead letters), disabled (the endpoint answered 410 Gone).",
		"target", "outcome")

	// PluginRestarts counts block processes replaced after a crash or hang.
	PluginRestarts = counter("paperflow_plugin_restarts_total",
		"Block processes restarted after they crashed, hung past the call timeout or stopped answering, by block (its uses: name).",
		"block")

	// HTTPRequests counts requests to the host's HTTP server by route
	// pattern and status code.
	HTTPRequests = counter("paperflow_http_requests_total",
		"Requests to the host's HTTP server, by route pattern (unmatched for none) and status code.",
		"route", "code")

	// buildInfo is 1 for the running version, like Prometheus's own
	// build_info: join on it to see which version a host runs.
	buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "paperflow_build_info",
		Help: "Always 1: the paperflow version this host runs and the Go version it was built with.",
	}, []string{"version", "goversion"})

	retryQueues = &queueCollector{
		pending: prometheus.NewDesc("paperflow_delivery_retry_pending",
			"Events of a target (workflow/sink) handed out but not settled: waiting for their next retry, or in flight. Read from the target's durable consumers at scrape time.",
			[]string{"target"}, nil),
		backlog: prometheus.NewDesc("paperflow_delivery_backlog",
			"Events of a target (workflow/sink) not yet handed out to it. Read from the target's durable consumers at scrape time.",
			[]string{"target"}, nil),
		queues: map[*queue]struct{}{},
	}
)

// counter is a counter of paperflow's, by the labels named.
func counter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

func init() {
	Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		Items, BlockCallSeconds, BlockItems, EventsPublished, Deliveries, PluginRestarts, HTTPRequests,
		buildInfo, retryQueues,
	)
	SetBuildInfo(moduleVersion())
}

// Handler serves the registry in the Prometheus text (or negotiated)
// exposition format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{Registry: Registry})
}

// ItemsDone records the end of n items of a run with the same outcome
// (Succeeded or Failed): a batch's items are counted with one label
// lookup, not one per item.
func ItemsDone(workflow, outcome string, n int) {
	if n > 0 {
		Items.WithLabelValues(workflow, outcome).Add(float64(n))
	}
}

// BlockCall records the latency of one call into a block since start.
func BlockCall(workflow, block, kind string, start time.Time) {
	BlockCallSeconds.WithLabelValues(workflow, block, kind).Observe(time.Since(start).Seconds())
}

// BlockItemsHandled records that a step block handled n items with the
// same outcome, counted once per batch rather than once per item.
func BlockItemsHandled(workflow, block, outcome string, n int) {
	if n > 0 {
		BlockItems.WithLabelValues(workflow, block, outcome).Add(float64(n))
	}
}

// EventPublished records one event stored in the events stream.
func EventPublished(eventType string) { EventsPublished.WithLabelValues(eventType).Inc() }

// Delivery records one delivery attempt to target ("workflow/sink").
func Delivery(target, outcome string) { Deliveries.WithLabelValues(target, outcome).Inc() }

// PluginRestarted records a restarted block process; uses is its `uses:` name.
func PluginRestarted(uses string) { PluginRestarts.WithLabelValues(uses).Inc() }

// InstrumentHTTP counts the requests h serves by route and status code.
// The route is the pattern of the http.ServeMux that h is (or wraps without
// copying the request), so paths with ids in them share one label value.
func InstrumentHTTP(h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerCounter(HTTPRequests, h, promhttp.WithLabelFromRequest("route", route))
}

func route(r *http.Request) string {
	p := r.Pattern
	if p == "" {
		return "unmatched"
	}
	// "GET /healthz" → "/healthz": the method says nothing the code does not.
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = strings.TrimLeft(p[i:], " ")
	}
	return p
}

// QueueDepth reads a target's delivery queue: events waiting for a retry
// (or in flight) and events not yet handed out.
type QueueDepth func(ctx context.Context) (retryPending, backlog uint64, err error)

// QueueTimeout bounds the reading of every tracked queue in one scrape.
var QueueTimeout = 2 * time.Second

type queue struct {
	target string
	depth  QueueDepth
}

// queueCollector asks each tracked target's consumers for their depth on
// scrape, so the figures cost nothing between scrapes.
type queueCollector struct {
	pending, backlog *prometheus.Desc
	mu               sync.Mutex
	queues           map[*queue]struct{}
}

// TrackQueue reports target's delivery queue as
// paperflow_delivery_retry_pending and paperflow_delivery_backlog until
// untrack is called. If a target is tracked twice, one of them reports.
func TrackQueue(target string, depth QueueDepth) (untrack func()) {
	q := &queue{target: target, depth: depth}
	c := retryQueues
	c.mu.Lock()
	c.queues[q] = struct{}{}
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.queues, q)
		c.mu.Unlock()
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.backlog
}

// Collect reads the queues one after the other under one deadline; a queue
// that cannot be read in time is left out of this scrape.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	qs := make([]*queue, 0, len(c.queues))
	for q := range c.queues {
		qs = append(qs, q)
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), QueueTimeout)
	defer cancel()
	seen := map[string]bool{}
	for _, q := range qs {
		if seen[q.target] {
			continue
		}
		pending, backlog, err := q.depth(ctx)
		if err != nil {
			continue
		}
		seen[q.target] = true
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(pending), q.target)
		ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(backlog), q.target)
	}
}

// SetBuildInfo sets paperflow_build_info to the running version; the CLI
// calls it with the version it was built as. Until then the version is
// the main module's, or "dev".
func SetBuildInfo(version string) {
	buildInfo.Reset()
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
}

func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// The Known functions start series at zero for label values known before
// anything happens, so a dashboard or an alert on rate() or absent() sees
// them from the first scrape rather than from the first item.

// KnownEventTypes starts paperflow_events_published_total for each type.
func KnownEventTypes(types ...string) {
	for _, t := range types {
		EventsPublished.WithLabelValues(t)
	}
}

// KnownWorkflow starts paperflow_items_total for a loaded workflow.
func KnownWorkflow(workflow string) {
	for _, o := range []string{Succeeded, Failed} {
		Items.WithLabelValues(workflow, o)
	}
}

// KnownTarget starts paperflow_deliveries_total for a delivery target
// ("workflow/sink"), one series per outcome.
func KnownTarget(target string) {
	for _, o := range deliveryOutcomes {
		Deliveries.WithLabelValues(target, o)
	}
}
