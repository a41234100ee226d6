package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/engine"
)

// TestCompactRemovesCheckpointsOfCompletedRuns: once a completed run is
// older than the detail retention its checkpoints go, once; the run's
// summary is still read from its outcomes.
func TestCompactRemovesCheckpointsOfCompletedRuns(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(o *engine.Options) { o.DetailRetention = time.Hour })
	wf := env.load(t, `name: compact
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: a, uses: noop}
  - {id: b, uses: noop}
`, "Name\nAda\nBob\n", nil)
	ctx := context.Background()
	sum, err := env.engine.Run(ctx, wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := engine.ItemCheckpoint(ctx, env.bus.JS, sum.RunID, "2", "b"); err != nil || !ok {
		t.Fatalf("checkpoint before compaction: %v, %v", ok, err)
	}
	if n, err := env.engine.Compact(ctx); err != nil || n != 0 {
		t.Fatalf("compacted %d runs within the retention (%v)", n, err)
	}

	young := newEnv(t, func(o *engine.Options) { o.DetailRetention = time.Nanosecond })
	wf = young.load(t, `name: compact
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: a, uses: noop}
`, "Name\nAda\nBob\n", nil)
	sum, err = young.engine.Run(ctx, wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The engine's own loop may have compacted it already.
	if n, err := young.engine.Compact(ctx); err != nil || n > 1 {
		t.Fatalf("compacted %d runs, want at most 1 (%v)", n, err)
	}
	if _, ok, err := engine.ItemCheckpoint(ctx, young.bus.JS, sum.RunID, "1", "a"); err != nil || ok {
		t.Fatalf("checkpoint after compaction: found %v (%v)", ok, err)
	}
	if n, err := young.engine.Compact(ctx); err != nil || n != 0 {
		t.Fatalf("compacted %d runs a second time (%v)", n, err)
	}
}
