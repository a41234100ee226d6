package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// TestItemsRetriedOutOfAChunk: the source's items are queued in chunks;
// items of a chunk that fail retryably are queued again alone, tried
// again without redoing the blocks they finished, and their attempts
// count on from the chunk's. Every event is published once.
func TestItemsRetriedOutOfAChunk(t *testing.T) {
	for _, tc := range []struct {
		name              string
		attempts          int
		succeeded, failed int64
		events            int
	}{
		{name: "flaky items succeed on their third attempt", attempts: 5, succeeded: 6, events: 12},
		{name: "flaky items give up after two attempts", attempts: 2, succeeded: 3, failed: 3, events: 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t, func(o *engine.Options) { o.RetryDelay = 20 * time.Millisecond; o.MaxAttempts = tc.attempts })
			wf := env.load(t, `name: chunks
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: a, uses: testblock, with: {emit: true, behaviour_field: first}}
  - {id: b, uses: testblock, with: {emit: true}}
`, "Name,behaviour,first\nok1,,\nf1,flaky,\nok2,,\nf2,flaky,\nok3,,\nf3,flaky,\n", nil)
			sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Items != 6 || sum.Succeeded != tc.succeeded || sum.Failed != tc.failed {
				t.Fatalf("summary: %+v", sum)
			}
			for _, e := range sum.Errors {
				if !strings.Contains(e.Error, "gave up after 2 attempts") {
					t.Errorf("item %s: %q, want it to give up after 2 attempts", e.Item, e.Error)
				}
			}
			ids := map[string]int{}
			for _, ev := range env.published(t, sum.RunID) {
				ids[ev.EventID]++
			}
			if len(ids) != tc.events {
				t.Errorf("%d distinct events, want %d", len(ids), tc.events)
			}
			for id, n := range ids {
				if n > 1 {
					t.Errorf("event %s published %d times", id, n)
				}
			}
		})
	}
}

// splitProbe is a step run in the host, for a chunk of three items: the
// first time, item 1 succeeds, item 2 fails retryably (it is split out of
// the chunk) and item 3 fails for good, and the batch's outcomes cannot
// be written, so the chunk comes back. Item 3, failed, is worked on again
// by every pass of the chunk: its second call says the chunk's redo has
// reached the step. A call for item 2 alone (its split-out message) waits
// for that, so a redo that works on item 2 too overlaps it, as it would
// at any moment in production. It counts item 2's successes: the side
// effect a step that is not idempotent by itself would have.
type splitProbe struct {
	// breakOutcomes makes the outcomes' writes fail (true) or succeed.
	breakOutcomes func(bool) error

	mu        sync.Mutex
	calls     map[string]int
	succeeded int // item 2's
	redone    chan struct{}
}

func (*splitProbe) Describe() sdk.Descriptor {
	return sdk.Descriptor{Name: "testblock", Kind: sdk.KindStep, Version: "0.0.1"}
}

func (*splitProbe) Configure(context.Context, sdk.Config) error { return nil }

func (p *splitProbe) Process(ctx context.Context, items []sdk.Item) []sdk.Result {
	p.mu.Lock()
	alone := true
	for _, it := range items {
		p.calls[it.ID]++
		alone = alone && it.ID == "2"
	}
	first, redo := p.calls["2"] == 1, p.calls["3"] == 2
	p.mu.Unlock()
	out := make([]sdk.Result, len(items))
	if first {
		if err := p.breakOutcomes(true); err != nil {
			for i := range out {
				out[i].Err = err
			}
			return out
		}
	}
	if redo {
		if err := p.breakOutcomes(false); err != nil {
			for i := range out {
				out[i].Err = err
			}
			return out
		}
		close(p.redone)
	}
	if alone && !first {
		select {
		case <-p.redone:
		case <-ctx.Done():
			out[0].Err = ctx.Err()
			return out
		}
	}
	for i, it := range items {
		switch {
		case it.ID == "3":
			out[i].Err = errors.New("refused for good")
		case it.ID == "2" && first:
			out[i].Err = sdk.Retryable(errors.New("not yet"))
		case it.ID == "2":
			p.mu.Lock()
			p.succeeded++
			p.mu.Unlock()
		}
	}
	return out
}

// TestAChunkRedoneLeavesTheItemsSplitOutOfIt: an item split out of its
// chunk to be tried again is queued before the chunk is acknowledged; the
// chunk then comes back (its outcomes could not be written). The chunk's
// redo leaves that item to its own message: the step runs once for it,
// and the run ends with every item.
func TestAChunkRedoneLeavesTheItemsSplitOutOfIt(t *testing.T) {
	t.Parallel()
	probe := &splitProbe{calls: map[string]int{}, redone: make(chan struct{})}
	env := newEnv(t, func(o *engine.Options) {
		o.Embedded = map[string]sdk.Block{"testblock": probe}
		o.BatchSize, o.Workers = 3, 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream, err := env.bus.JS.Stream(ctx, bus.OutcomesStream)
	if err != nil {
		t.Fatal(err)
	}
	normal := stream.CachedInfo().Config
	probe.breakOutcomes = func(broken bool) error {
		cfg := normal
		if broken {
			cfg.MaxMsgSize = 8 // smaller than any batch's outcomes
		}
		_, err := env.bus.JS.UpdateStream(ctx, cfg)
		return err
	}
	wf := env.load(t, `name: splitrace
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: a, uses: testblock}
`, "Name\nada\nbob\ncyd\n", nil)
	sum, err := env.engine.Run(ctx, wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Items != 3 || sum.Succeeded != 2 || sum.Failed != 1 {
		t.Errorf("summary: %+v, want 3 items, 2 succeeded", sum)
	}
	probe.mu.Lock()
	defer probe.mu.Unlock()
	if probe.calls["3"] < 2 {
		t.Fatalf("item 3 was worked on %d times: the chunk did not come back", probe.calls["3"])
	}
	if probe.succeeded != 1 {
		t.Errorf("the step succeeded %d times for the item split out of the chunk, want once (calls by item: %v)", probe.succeeded, probe.calls)
	}
}

// stallingProbe is a step run in the host whose first call never ends
// (the host making it dies); later calls succeed, counted by item.
type stallingProbe struct {
	started chan struct{}
	once    sync.Once
	mu      sync.Mutex
	calls   map[string]int
}

func (*stallingProbe) Describe() sdk.Descriptor {
	return sdk.Descriptor{Name: "testblock", Kind: sdk.KindStep, Version: "0.0.1"}
}

func (*stallingProbe) Configure(context.Context, sdk.Config) error { return nil }

func (p *stallingProbe) Process(ctx context.Context, items []sdk.Item) []sdk.Result {
	first := false
	p.once.Do(func() { first = true })
	out := make([]sdk.Result, len(items))
	if first {
		close(p.started)
		<-ctx.Done()
		for i := range out {
			out[i].Err = ctx.Err()
		}
		return out
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, it := range items {
		p.calls[it.ID]++
	}
	return out
}

// TestAChunkRedoneQueuesAgainTheItemItSplitOut: a host dies after it
// recorded an item split out of its chunk and before the item's own
// message was queued. The host that takes the chunk over leaves the item
// out of it and queues the item's message again, so the item is worked
// on once, and not lost.
func TestAChunkRedoneQueuesAgainTheItemItSplitOut(t *testing.T) {
	if testing.Short() {
		t.Skip("two hosts on one NATS")
	}
	t.Parallel()
	probe := &stallingProbe{started: make(chan struct{}), calls: map[string]int{}}
	embed := func(o *engine.Options) {
		o.Embedded = map[string]sdk.Block{"testblock": probe}
		o.BatchSize = 3
	}
	url, _ := startNATSWithUsers(t)
	dying, dyingBus := newHostOn(t, url, embed)
	taking, _ := newHostOn(t, url, embed)
	wf := loadWorkflow(t, taking.Catalog(), `name: lostsplit
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: a, uses: testblock}
`, "Name\nada\nbob\ncyd\n")

	dctx, stopDying := context.WithCancel(context.Background())
	started := make(chan string, 1)
	dyingDone := make(chan struct{})
	go func() {
		defer close(dyingDone)
		_, _ = dying.Run(dctx, wf, engine.RunOptions{OnStart: func(id string) { started <- id }})
	}()
	defer func() { stopDying(); <-dyingDone }()
	id := <-started
	<-probe.started
	// What the dying host recorded before it could queue item 2 alone.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := taking.Store().Checkpoints.Put(ctx, id+".s.lost.split", []byte(`{"split":{"2":{"tried":1,"hold_ms":20}}}`)); err != nil {
		t.Fatal(err)
	}
	dyingBus.NC.Close()

	sum, err := taking.Join(ctx, wf, id, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Items != 3 || sum.Succeeded != 3 {
		t.Errorf("summary: %+v, want 3 items succeeded", sum)
	}
	probe.mu.Lock()
	defer probe.mu.Unlock()
	for _, item := range []string{"1", "2", "3"} {
		if n := probe.calls[item]; n != 1 {
			t.Errorf("item %s worked on %d times after the host died, want once (calls by item: %v)", item, n, probe.calls)
		}
	}
}

// retryOnceProbe is a step run in the host that fails each item's first
// call retryably and records how many items each call had.
type retryOnceProbe struct {
	mu    sync.Mutex
	seen  map[string]bool
	calls [][]string // the items of each call
}

func (*retryOnceProbe) Describe() sdk.Descriptor {
	return sdk.Descriptor{Name: "testblock", Kind: sdk.KindStep, Version: "0.0.1"}
}

func (*retryOnceProbe) Configure(context.Context, sdk.Config) error { return nil }

func (p *retryOnceProbe) Process(_ context.Context, items []sdk.Item) []sdk.Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]sdk.Result, len(items))
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
		if !p.seen[it.ID] {
			p.seen[it.ID] = true
			out[i].Err = sdk.Retryable(errors.New("not yet"))
		}
	}
	p.calls = append(p.calls, ids)
	return out
}

// TestItemsSplitOutOfAChunkAreRetriedInBatches: items split out of their
// chunk to be tried again, one message each, are worked in batches of
// several items, not in a block call (and checkpoint and outcome writes)
// per item.
func TestItemsSplitOutOfAChunkAreRetriedInBatches(t *testing.T) {
	t.Parallel()
	probe := &retryOnceProbe{seen: map[string]bool{}}
	const items = 8
	env := newEnv(t, func(o *engine.Options) {
		o.Embedded = map[string]sdk.Block{"testblock": probe}
		o.BatchSize, o.Workers = items, 1
		// Under a millisecond: the items split out are queued to be
		// tried again at once, all of them before the next batch.
		o.RetryDelay = time.Microsecond
	})
	wf := env.load(t, `name: retrybatches
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: a, uses: testblock}
`, "Name\n"+strings.Repeat("ada\n", items), nil)
	sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Items != items || sum.Succeeded != items {
		t.Fatalf("summary: %+v", sum)
	}
	probe.mu.Lock()
	defer probe.mu.Unlock()
	if len(probe.calls) == 0 || len(probe.calls[0]) != items {
		t.Fatalf("calls %v, want the chunk of %d items first", probe.calls, items)
	}
	retried := probe.calls[1:]
	n := 0
	for _, c := range retried {
		n += len(c)
	}
	if n != items || len(retried) >= items {
		t.Errorf("the %d items split out were tried again in calls %v, want fewer calls than items", items, retried)
	}
}
