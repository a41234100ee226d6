package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/paperflow/paperflow/host/metrics"
)

// scrape GETs the handler's page over HTTP and parses it.
func scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(metrics.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// series returns the metrics of family name whose labels include want.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range fams[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if match {
			out = append(out, m)
		}
	}
	return out
}

// TestBuildInfo: a fresh process shows paperflow_build_info from the
// first scrape, before anything has happened, and one series of it.
func TestBuildInfo(t *testing.T) {
	fams := scrape(t)
	got := series(fams, "paperflow_build_info", map[string]string{"goversion": runtime.Version()})
	if len(got) != 1 || got[0].GetGauge().GetValue() != 1 {
		t.Fatalf("paperflow_build_info{goversion=%q} at start: %v, want one series of 1", runtime.Version(), got)
	}
	metrics.SetBuildInfo("v9.8.7")
	fams = scrape(t)
	all := series(fams, "paperflow_build_info", nil)
	if len(all) != 1 || len(series(fams, "paperflow_build_info", map[string]string{"version": "v9.8.7", "goversion": runtime.Version()})) != 1 {
		t.Errorf("after SetBuildInfo: %v, want one series with version v9.8.7", all)
	}
}

// TestKnownSeriesStartAtZero: a workflow's and a target's series are
// there, at 0, before its first item or delivery.
func TestKnownSeriesStartAtZero(t *testing.T) {
	metrics.KnownWorkflow("known-wf")
	metrics.KnownTarget("known-wf/hook")
	fams := scrape(t)
	for _, outcome := range []string{metrics.Succeeded, metrics.Failed} {
		got := series(fams, "paperflow_items_total", map[string]string{"workflow": "known-wf", "outcome": outcome})
		if len(got) != 1 || got[0].GetCounter().GetValue() != 0 {
			t.Errorf("paperflow_items_total{workflow=known-wf,outcome=%s}: %v, want one series at 0", outcome, got)
		}
	}
	for _, outcome := range []string{metrics.Delivered, metrics.Skipped, metrics.Retry, metrics.Dead, metrics.Disabled} {
		got := series(fams, "paperflow_deliveries_total", map[string]string{"target": "known-wf/hook", "outcome": outcome})
		if len(got) != 1 || got[0].GetCounter().GetValue() != 0 {
			t.Errorf("paperflow_deliveries_total{target=known-wf/hook,outcome=%s}: %v, want one series at 0", outcome, got)
		}
	}
}
