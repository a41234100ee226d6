package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/plugins/sdk"
	sdkevents "github.com/paperflow/paperflow/plugins/sdk/events"
)

// refusingBlock is a step run in the host: it fails every item until
// fixed, then emits an event for each. It notes any call made after the
// test said it must see no more.
type refusingBlock struct {
	fixed atomic.Bool
	ended atomic.Bool // no call may come from now on
	calls atomic.Int64
	mu    sync.Mutex
	late  int
}

func (*refusingBlock) Describe() sdk.Descriptor {
	return sdk.Descriptor{Name: "testblock", Kind: sdk.KindStep, Version: "0.0.1", Events: []string{sdkevents.DocumentsCreated}}
}

func (*refusingBlock) Configure(context.Context, sdk.Config) error { return nil }

func (b *refusingBlock) Process(_ context.Context, items []sdk.Item) []sdk.Result {
	b.calls.Add(1)
	if b.ended.Load() {
		b.mu.Lock()
		b.late++
		b.mu.Unlock()
	}
	out := make([]sdk.Result, len(items))
	for i, it := range items {
		if !b.fixed.Load() {
			out[i].Err = errors.New("refused until fixed")
			continue
		}
		ev, err := sdkevents.New(sdkevents.DocumentsCreatedData{Documents: []sdkevents.Document{
			{ID: "doc-" + it.ID, URL: "http://127.0.0.1/doc/" + it.ID, Name: it.ID + ".pdf", Mimetype: "application/pdf"},
		}})
		out[i] = sdk.Result{Events: []sdk.EventData{ev}, Err: err}
	}
	return out
}

// TestARetryWhoseBatchesKeepFailingGivesUp: an operator's retry whose
// every batch fails (the events its block emits have no stream to go to)
// ends with the error once its patience runs out, instead of trying for
// as long as the host lives and so holding the run; its workers are done
// by the time it returns.
func TestARetryWhoseBatchesKeepFailingGivesUp(t *testing.T) {
	t.Parallel()
	blk := &refusingBlock{}
	env := newEnv(t, func(o *engine.Options) {
		o.Embedded = map[string]sdk.Block{"testblock": blk}
		o.RetryPatience = time.Second
		o.BatchSize = 1
	})
	wf := env.load(t, `name: refused
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: a, uses: testblock, with: {emit: true}}
`, "Name\nada\nbob\ncyd\n", nil)
	ctx := context.Background()
	sum, err := env.engine.Run(ctx, wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 3 {
		t.Fatalf("first run: %+v, want its 3 items failed", sum)
	}
	ids := make([]string, 0, len(sum.Errors))
	for _, e := range sum.Errors {
		ids = append(ids, e.Item)
	}

	// The cause is fixed, but the events stream is gone: every batch of
	// the retry fails at publishing its events.
	blk.fixed.Store(true)
	if err := env.bus.JS.DeleteStream(ctx, events.StreamName); err != nil {
		t.Fatal(err)
	}
	before := blk.calls.Load()
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = env.engine.RetryItems(rctx, wf, sum.RunID, ids, engine.RunOptions{})
	blk.ended.Store(true)
	if err == nil || rctx.Err() != nil {
		t.Fatalf("retry of batches that keep failing: %v (context: %v), want it to give up by itself", err, rctx.Err())
	}
	if !strings.Contains(err.Error(), "gave up") {
		t.Errorf("retry error %q does not say it gave up", err)
	}
	if blk.calls.Load() == before {
		t.Errorf("the block was not called by the retry: its batches failed before it")
	}
	time.Sleep(100 * time.Millisecond)
	blk.mu.Lock()
	defer blk.mu.Unlock()
	if blk.late > 0 {
		t.Errorf("the block was called %d times after the retry returned", blk.late)
	}
}
