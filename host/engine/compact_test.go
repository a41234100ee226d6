package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/plugins/sdk"
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

// holdingBlock is a step run in the host: item 2 fails its first call;
// its second call (the retry's) says so and waits to be let go.
type holdingBlock struct {
	mu       sync.Mutex
	calls    map[string]int
	retrying chan struct{}
	release  chan struct{}
}

func (*holdingBlock) Describe() sdk.Descriptor {
	return sdk.Descriptor{Name: "testblock", Kind: sdk.KindStep, Version: "0.0.1"}
}

func (*holdingBlock) Configure(context.Context, sdk.Config) error { return nil }

func (b *holdingBlock) Process(ctx context.Context, items []sdk.Item) []sdk.Result {
	out := make([]sdk.Result, len(items))
	for i, it := range items {
		b.mu.Lock()
		b.calls[it.ID]++
		n := b.calls[it.ID]
		b.mu.Unlock()
		switch {
		case it.ID == "2" && n == 1:
			out[i].Err = errors.New("refused")
		case it.ID == "2" && n == 2:
			close(b.retrying)
			select {
			case <-b.release:
			case <-ctx.Done():
				out[i].Err = ctx.Err()
			}
		}
	}
	return out
}

// backdate makes a run look as if it ended, and its last retry started,
// ago.
func backdate(t *testing.T, env *testEnv, runID string, ago time.Duration) {
	t.Helper()
	ctx := context.Background()
	runs := env.engine.Store().Runs
	ent, err := runs.Get(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	var rec engine.RunInfo
	if err := json.Unmarshal(ent.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	rec.Finished = time.Now().Add(-ago)
	if !rec.Retried.IsZero() {
		rec.Retried = rec.Finished
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Update(ctx, runID, raw, ent.Revision()); err != nil {
		t.Fatal(err)
	}
}

// TestCompactLeavesARunBeingRetried: a run that completed longer than
// the detail retention ago keeps its checkpoints while a retry of its
// items works on it, and for the retention after the retry started.
func TestCompactLeavesARunBeingRetried(t *testing.T) {
	t.Parallel()
	block := &holdingBlock{calls: map[string]int{}, retrying: make(chan struct{}), release: make(chan struct{})}
	env := newEnv(t, func(o *engine.Options) {
		o.DetailRetention = time.Hour
		o.Embedded = map[string]sdk.Block{"testblock": block}
	})
	wf := env.load(t, `name: compactretry
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: a, uses: noop}
  - {id: b, uses: testblock}
`, "Name\nAda\nBob\n", nil)
	ctx := context.Background()
	sum, err := env.engine.Run(ctx, wf, engine.RunOptions{})
	if err != nil || sum.Failed != 1 {
		t.Fatalf("run: %+v, %v", sum, err)
	}
	backdate(t, env, sum.RunID, 2*time.Hour)

	retried := make(chan error, 1)
	go func() {
		_, err := env.engine.RetryItems(ctx, wf, sum.RunID, []string{"2"}, engine.RunOptions{})
		retried <- err
	}()
	<-block.retrying
	n, err := env.engine.Compact(ctx)
	close(block.release)
	if err != nil || n != 0 {
		t.Errorf("compacted %d runs while a retry worked on one (%v)", n, err)
	}
	if err := <-retried; err != nil {
		t.Fatalf("retry: %v", err)
	}
	if _, ok, err := engine.ItemCheckpoint(ctx, env.bus.JS, sum.RunID, "1", "a"); err != nil || !ok {
		t.Errorf("checkpoint after the retry: found %v (%v)", ok, err)
	}
	if n, err := env.engine.Compact(ctx); err != nil || n != 0 {
		t.Errorf("compacted %d runs just retried (%v)", n, err)
	}

	backdate(t, env, sum.RunID, 2*time.Hour)
	if n, err := env.engine.Compact(ctx); err != nil || n != 1 {
		t.Errorf("compacted %d runs whose retry is past the retention, want 1 (%v)", n, err)
	}
}

// TestCompactFinishesACompactionThatStoppedHalfWay: a host that stopped
// after recording a run compacted and before removing all its detail
// leaves the run purging; the next compaction removes the rest, and a
// retry meanwhile is refused rather than run under the purge.
func TestCompactFinishesACompactionThatStoppedHalfWay(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(o *engine.Options) { o.DetailRetention = time.Hour })
	wf := env.load(t, `name: halfcompacted
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: a, uses: noop}
`, "Name\nAda\nBob\n", nil)
	ctx := context.Background()
	sum, err := env.engine.Run(ctx, wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// What the stopped host left: the record says compacted and purging,
	// the checkpoints are all there.
	runs := env.engine.Store().Runs
	ent, err := runs.Get(ctx, sum.RunID)
	if err != nil {
		t.Fatal(err)
	}
	var rec engine.RunInfo
	if err := json.Unmarshal(ent.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	rec.Compacted, rec.Purging = true, true
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Update(ctx, sum.RunID, raw, ent.Revision()); err != nil {
		t.Fatal(err)
	}

	if _, err := env.engine.RetryItems(ctx, wf, sum.RunID, []string{"1"}, engine.RunOptions{}); err == nil || !strings.Contains(err.Error(), "being removed") {
		t.Errorf("retry of a run being compacted: %v, want it refused", err)
	}
	if n, err := env.engine.Compact(ctx); err != nil || n != 1 {
		t.Fatalf("compacted %d runs (%v), want the one left half-way", n, err)
	}
	if _, ok, err := engine.ItemCheckpoint(ctx, env.bus.JS, sum.RunID, "1", "a"); err != nil || ok {
		t.Fatalf("checkpoint after the compaction was finished: found %v (%v)", ok, err)
	}
	ent, err = runs.Get(ctx, sum.RunID)
	if err != nil {
		t.Fatal(err)
	}
	var after engine.RunInfo
	if err := json.Unmarshal(ent.Value(), &after); err != nil {
		t.Fatal(err)
	}
	if !after.Compacted || after.Purging {
		t.Errorf("record after the compaction: compacted %v, purging %v; want compacted, not purging", after.Compacted, after.Purging)
	}
	if n, err := env.engine.Compact(ctx); err != nil || n != 0 {
		t.Fatalf("compacted %d runs a second time (%v)", n, err)
	}
}
