package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/workflow"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
)

// RetryItems runs items of an ended run through the workflow's steps
// again, as an operator asks once the cause of their failure is fixed.
// The items are read again from the run's source (the queue forgets an
// item once it has an outcome), queued on a subject of their own with a
// consumer of their own, and processed as a resumed run's items are: a
// block an item finished before is not run again (its checkpoint) and no
// event is published twice (its id). Each retried item gets a new outcome,
// which readers take over the old one. It returns when every retried item
// has its new outcome, or with the error once its batches have kept
// failing for Options.RetryPatience.
func (e *Engine) RetryItems(ctx context.Context, wf *workflow.Workflow, runID string, itemIDs []string, ro RunOptions) (*Summary, error) {
	want := map[int64]bool{}
	for _, id := range itemIDs {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("item %q: want an item number of the run", id)
		}
		want[n] = true
	}
	if len(want) == 0 {
		return nil, errors.New("no items to retry")
	}
	rec, err := e.claimRun(ctx, wf, runID)
	if errors.Is(err, ErrJoined) {
		return nil, fmt.Errorf("run %s: %w", runID, err)
	}
	if err != nil {
		return nil, err
	}
	defer e.release(runID)
	// The retry works on the run's checkpoints and mail records: marked
	// retried (compare-and-set), the run is not compacted under it.
	rec, err = e.updateRun(ctx, runID, func(r *runRecord) error {
		if r.Status == "running" {
			return fmt.Errorf("run %s is still running: retry its failed items once it has ended", runID)
		}
		if r.Purging {
			return fmt.Errorf("run %s: its per-item detail is being removed (past --detail-retention); retry in a minute, when every block of the items will run again", runID)
		}
		r.Retried = time.Now().UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	rs := &runState{e: e, wf: wf, runID: runID, resume: true, secrets: ro.Secrets, redact: ro.Secrets.Redactor()}
	if err := rs.startBlocks(ctx); err != nil {
		return nil, err
	}
	defer rs.close()

	items, err := rs.reread(ctx, want)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("run %s: none of items %v is in its source any more", runID, itemIDs)
	}
	last, err := e.opts.Store.Outcomes.GetLastMsgForSubject(ctx, bus.OutcomesSubject(runID))
	var from uint64 = 1
	switch {
	case err == nil:
		from = last.Sequence + 1
	case !errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, fmt.Errorf("run %s: read outcomes: %w", runID, err)
	}

	subject := retrySubject(wf.Name, runID)
	name := "retry-" + runID
	if _, err := e.opts.Store.Items.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: name, FilterSubject: subject, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: e.opts.ItemTimeout, MaxAckPending: e.opts.Workers * e.opts.BatchSize * 4,
	}); err != nil {
		return nil, fmt.Errorf("run %s: retry consumer: %w", runID, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = e.opts.Store.Items.DeleteConsumer(cctx, name)
		_ = e.opts.Store.Items.Purge(cctx, jetstream.WithPurgeSubject(subject))
	}()
	msgs := make([]*nats.Msg, 0, len(items))
	for _, it := range items {
		raw, err := json.Marshal(it)
		if err != nil {
			return nil, err
		}
		m := nats.NewMsg(subject)
		m.Data = raw
		m.Header.Set(jetstream.MsgIDHeader, runID+".retry."+nuid.Next())
		msgs = append(msgs, m)
	}
	if err := e.publishAll(ctx, msgs, "queue items to retry"); err != nil {
		return nil, err
	}

	// A retry's batches that keep failing give up after RetryPatience, as
	// a run's do after maxStall: the retry then ends with the error rather
	// than trying for as long as the host lives, holding the run.
	patience := stallRetry
	patience.MaxElapsed = e.opts.RetryPatience
	wctx, stop := context.WithCancelCause(ctx)
	var workers sync.WaitGroup
	// The workers are done before the blocks under them close (rs.close,
	// deferred above, runs after this).
	defer func() {
		stop(nil)
		workers.Wait()
	}()
	for range e.opts.Workers {
		workers.Go(func() {
			if err := rs.workQueue(wctx, name, batchWindow, patience); err != nil && wctx.Err() == nil {
				stop(&retryGaveUpError{runID: runID, items: len(items), err: err})
			}
		})
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	sum, err := e.awaitOutcomes(wctx, rec, from, ids)
	if gaveUp := (*retryGaveUpError)(nil); err != nil && errors.As(context.Cause(wctx), &gaveUp) && ctx.Err() == nil {
		return nil, gaveUp
	}
	return sum, err
}

// retryGaveUpError is a retry whose batches kept failing for longer than
// RetryPatience.
type retryGaveUpError struct {
	runID string
	items int
	err   error
}

func (e *retryGaveUpError) Error() string {
	return fmt.Sprintf("run %s: the retry of %d items gave up, its batches failing: %v; the items keep the outcomes they had, retry them again once the cause is fixed",
		e.runID, e.items, e.err)
}

func (e *retryGaveUpError) Unwrap() error { return e.err }

func retrySubject(workflow, runID string) string { return bus.ItemsSubject(workflow, runID) + ".retry" }

// errEnough stops a source once it has read the items wanted.
var errEnough = errors.New("read enough")

// reread reads the wanted items (by number) from the run's source again.
func (rs *runState) reread(ctx context.Context, want map[int64]bool) ([]itemMsg, error) {
	nums := make([]int64, 0, len(want))
	for n := range want {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	first, last := nums[0], nums[len(nums)-1]
	seq := first - 1
	var out []itemMsg
	err := rs.source.Read(ctx, rs.runID, first-1, func(batch []*blockv1.Item) error {
		for _, it := range batch {
			seq++
			if want[seq] {
				out = append(out, itemMsg{ID: strconv.FormatInt(seq, 10), Origin: it.Origin, Fields: it.Fields, Error: it.Error})
			}
			if seq >= last {
				return errEnough
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, fmt.Errorf("read source %s (%s) again: %w", rs.wf.Source.ID, rs.wf.Source.Uses, err)
	}
	return out, nil
}

// awaitOutcomes reads the run's outcomes from stream sequence from until
// every item in ids has one, and sums those up.
func (e *Engine) awaitOutcomes(ctx context.Context, rec *runRecord, from uint64, ids []string) (*Summary, error) {
	start := time.Now()
	var mu sync.Mutex
	waiting := map[string]bool{}
	for _, id := range ids {
		waiting[id] = true
	}
	tr := newTracker(&runRecord{ID: rec.ID})
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	all := make(chan struct{})
	go e.followOutcomes(fctx, rec.ID, from, func(batch []outcome) {
		mu.Lock()
		defer mu.Unlock()
		if len(waiting) == 0 {
			return
		}
		for _, o := range batch {
			if waiting[o.Item] {
				delete(waiting, o.Item)
				tr.add(o)
			}
		}
		if len(waiting) == 0 {
			close(all)
		}
	})
	select {
	case <-all:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	sum := tr.summary(rec.Workflow)
	sum.Seconds = time.Since(start).Seconds()
	return sum, nil
}
