package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/httpapi"
)

// scrape GETs /metrics without a token and parses the text format.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s: %s", resp.Status, raw)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("content type %q, want the text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// requests is paperflow_http_requests_total{route, code} in fams.
func requests(fams map[string]*dto.MetricFamily, route, code string) float64 {
	for _, m := range fams["paperflow_http_requests_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["route"] == route && labels["code"] == code {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestMetricsEndpoint is not parallel: the counters are the process's, so
// no other test may move them meanwhile.
func TestMetricsEndpoint(t *testing.T) {
	// An API token is set: /metrics, like /healthz, still needs none.
	s := &httpapi.Server{Documents: http.NotFoundHandler(), Token: token, Log: slog.Default()}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	before := scrape(t, srv.URL)
	for _, path := range []string{"/healthz", "/healthz", "/blocks/wf/no-such-block/page", "/blocks/wf/other/page"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	after := scrape(t, srv.URL)

	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "process_open_fds", "paperflow_http_requests_total"} {
		if _, ok := after[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if help := after["paperflow_http_requests_total"].GetHelp(); help == "" {
		t.Error("paperflow_http_requests_total has no HELP")
	}
	tests := []struct {
		route, code string
		want        float64
	}{
		{"/healthz", "200", 2},
		// Block ids in the path share the pattern's label value.
		{"/blocks/{workflow}/{block}/", "404", 2},
		// The first scrape was itself counted.
		{"/metrics", "200", 1},
	}
	for _, tc := range tests {
		if got := requests(after, tc.route, tc.code) - requests(before, tc.route, tc.code); got != tc.want {
			t.Errorf("requests{route=%q,code=%s} went up by %v, want %v", tc.route, tc.code, got, tc.want)
		}
	}
}

// TestMetricsBeforeAnyItem: the event counters are there for every event
// type from the first scrape, before anything is published.
func TestMetricsBeforeAnyItem(t *testing.T) {
	s := &httpapi.Server{Documents: http.NotFoundHandler(), Token: token, Log: slog.Default()}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	fams := scrape(t, srv.URL)
	if len(fams["paperflow_build_info"].GetMetric()) != 1 {
		t.Errorf("paperflow_build_info: %v, want one series", fams["paperflow_build_info"].GetMetric())
	}
	have := map[string]bool{}
	for _, m := range fams["paperflow_events_published_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "type" {
				have[l.GetValue()] = true
			}
		}
	}
	for _, typ := range events.Types {
		if !have[string(typ)] {
			t.Errorf("no paperflow_events_published_total{type=%q} before the first event", typ)
		}
	}
}
