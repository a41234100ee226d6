package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/metrics"
)

// histogramCount is how many calls paperflow_block_call_seconds holds for
// one workflow, block and kind.
func histogramCount(t *testing.T, workflow, block, kind string) uint64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"workflow": workflow, "block": block, "kind": kind}
	for _, mf := range mfs {
		if mf.GetName() != "paperflow_block_call_seconds" {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue metric
				}
			}
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// TestRunMetrics runs a real workflow and checks that the counters moved
// by what the run did. It is not parallel: events published and plugin
// restarts are counted by event type and block kind, which other tests of
// this package share.
func TestRunMetrics(t *testing.T) {
	env := newEnv(t)
	wf := env.load(t, `name: metered
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: docs, uses: testblock, with: {emit: true}}
  - {id: quiet, uses: testblock, if: "{{#if Loud}}yes{{/if}}", with: {behaviour_field: Loud}}
`, "Name,behaviour,Loud\na,,\nb,fail,\nc,crash,yes\nd,,yes\n", nil)

	type counter struct {
		name string
		get  func() float64
		want float64
	}
	counters := []counter{
		{"items succeeded", func() float64 { return testutil.ToFloat64(metrics.Items.WithLabelValues("metered", metrics.Succeeded)) }, 3},
		{"items failed", func() float64 { return testutil.ToFloat64(metrics.Items.WithLabelValues("metered", metrics.Failed)) }, 1},
		{"DOCUMENTS_CREATED published", func() float64 {
			return testutil.ToFloat64(metrics.EventsPublished.WithLabelValues("DOCUMENTS_CREATED"))
		}, 3},
		{"docs succeeded", func() float64 {
			return testutil.ToFloat64(metrics.BlockItems.WithLabelValues("metered", "docs", metrics.Succeeded))
		}, 3},
		{"docs failed", func() float64 {
			return testutil.ToFloat64(metrics.BlockItems.WithLabelValues("metered", "docs", metrics.Failed))
		}, 1},
		{"quiet skipped", func() float64 {
			return testutil.ToFloat64(metrics.BlockItems.WithLabelValues("metered", "quiet", metrics.Skipped))
		}, 1},
		{"quiet succeeded", func() float64 {
			return testutil.ToFloat64(metrics.BlockItems.WithLabelValues("metered", "quiet", metrics.Succeeded))
		}, 2},
		// The crash of item c restarts the block's process once.
		{"testblock restarts", func() float64 { return testutil.ToFloat64(metrics.PluginRestarts.WithLabelValues("testblock")) }, 1},
	}
	before := make([]float64, len(counters))
	for i, c := range counters {
		before[i] = c.get()
	}
	processCalls := histogramCount(t, "metered", "docs", metrics.CallProcess)
	readCalls := histogramCount(t, "metered", wf.Source.ID, metrics.CallRead)

	sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Succeeded != 3 || sum.Failed != 1 {
		t.Fatalf("summary: %+v", sum)
	}
	// Outcomes are counted once they are recorded, which the run waits for;
	// give a straggling worker a moment all the same.
	time.Sleep(50 * time.Millisecond)
	for i, c := range counters {
		if got := c.get() - before[i]; got != c.want {
			t.Errorf("%s: moved by %v, want %v", c.name, got, c.want)
		}
	}
	if n := histogramCount(t, "metered", "docs", metrics.CallProcess) - processCalls; n < 1 {
		t.Errorf("no Process call of docs was timed")
	}
	if n := histogramCount(t, "metered", wf.Source.ID, metrics.CallRead) - readCalls; n < 1 {
		t.Errorf("no Read batch of the source (%s) was timed", wf.Source.ID)
	}
}
