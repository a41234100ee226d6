package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goretry "github.com/sethvargo/go-retry"
	"golang.org/x/sync/errgroup"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/retries"
)

// RunOptions configure one run.
type RunOptions struct {
	// RunID resumes an earlier run; empty starts a new one.
	RunID string
	// Secrets resolve {{ .secrets.NAME }} in block configuration.
	Secrets workflow.Secrets
	// Progress is called after each item finishes (from one goroutine).
	Progress func(Progress)
	// OnStart is called once the run id is known.
	OnStart func(runID string)
	// Interruptible records the run "interrupted" when ctx is cancelled
	// (Ctrl-C of `paperflow run`), so hosts leave it alone until it is
	// resumed. A run whose process dies stays "running" and is picked up.
	Interruptible bool
	// Version is the deployed version of the workflow (host/deploy) the
	// run starts on; it is recorded, so every host that joins the run, and
	// a resume, loads that version.
	Version string
	// Trigger says what started the run ("manual" when empty).
	Trigger string
	// NewID names a new run (a schedule's firing gives the same id on
	// every host, so only one creates the run); empty: a fresh id.
	NewID string
}

// Progress is a snapshot of a run.
type Progress struct {
	Read       int64 // items read from the source so far
	SourceDone bool
	Done       int64 // items finished, either way
	Succeeded  int64
	Failed     int64
}

// Summary is how a run ended; `paperflow run --output json` prints it.
type Summary struct {
	RunID     string           `json:"run_id"`
	Workflow  string           `json:"workflow"`
	Items     int64            `json:"items"`
	Succeeded int64            `json:"succeeded"`
	Failed    int64            `json:"failed"`
	Events    map[string]int64 `json:"events"`
	Errors    []ItemError      `json:"errors"`
	Seconds   float64          `json:"seconds"`
}

// ItemError says why one item failed.
type ItemError struct {
	Item   string `json:"item"`
	Origin string `json:"origin,omitempty"`
	Block  string `json:"block,omitempty"`
	Error  string `json:"error"`
}

// MaxReportedErrors bounds Summary.Errors; the count is in Failed.
const MaxReportedErrors = 1000

// runRecord is a run's entry in the runs bucket.
type runRecord struct {
	ID       string `json:"id"`
	Workflow string `json:"workflow"`
	File     string `json:"file"`
	// Version is the deployed version the run works on ("" for a run
	// started from a file before workflows were deployed).
	Version string `json:"version,omitempty"`
	// Trigger is what started the run: "manual" (a person, the run API).
	Trigger  string `json:"trigger,omitempty"`
	Status   string `json:"status"` // running, interrupted, completed, failed
	Enqueued int64  `json:"enqueued"`
	// Chunk is how many items the source's feed puts in one queue message
	// (the batch size of the host that started the run), the same for
	// every host that reads the source; 0 (a run started before chunks):
	// one.
	Chunk int `json:"chunk,omitempty"`
	// Resumes counts `--resume`s: after one, the items consumer is new,
	// so every worker reads checkpoints even for first deliveries.
	Resumes    int  `json:"resumes,omitempty"`
	SourceDone bool `json:"source_done"`
	// Cuts are the last items of chunks past Enqueued that the source's
	// feed cut short (for size, or where the source ended), recorded
	// before those chunks are queued: a host that takes the source over
	// ends its chunks there too, so it queues the same chunks even if the
	// source reads otherwise now (a file appended to, items that
	// changed). A record of an earlier version has none.
	Cuts []int64 `json:"cuts,omitempty"`
	// SourceEnd is the source's last item, recorded before its last chunk
	// is queued: a host that takes the source over reads no further
	// (0: the end is not reached yet, or a record of an earlier version).
	SourceEnd int64     `json:"source_end,omitempty"`
	Error     string    `json:"error,omitempty"`
	Created   time.Time `json:"created"`
	Finished  time.Time `json:"finished,omitzero"`
	// Compacted: the run's per-item detail (checkpoints) is gone, past
	// the detail retention.
	Compacted bool `json:"compacted,omitempty"`
	// Purging: recorded compacted, its detail not all removed yet. A host
	// that stopped while removing it leaves it set; the next compaction,
	// on any host, removes the rest.
	Purging bool `json:"purging,omitempty"`
	// Retried is when a retry of items of the run last started: the
	// retry works on the run's detail, which is kept for the detail
	// retention from then too.
	Retried time.Time `json:"retried,omitzero"`
}

// outcome is one item's end; the outcomes stream holds one JSON array of
// them per processed batch.
type outcome struct {
	Item   string         `json:"item"`
	Origin string         `json:"origin,omitempty"`
	Status string         `json:"status"` // succeeded, failed
	Block  string         `json:"block,omitempty"`
	Error  string         `json:"error,omitempty"`
	Events map[string]int `json:"events,omitempty"`
}

// NewRunID returns a sortable, unique run id safe for NATS subjects.
func NewRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

// runState is what the workers of one run share.
type runState struct {
	e       *Engine
	wf      *workflow.Workflow
	runID   string
	resume  bool
	secrets workflow.Secrets
	source  *pluginhost.Block
	steps   []*stepBlock
	// chunk is the items per message of the run's queue (runRecord.Chunk).
	chunk int
	// redact replaces secret values in item errors before they are
	// recorded, logged or printed.
	redact *strings.Replacer

	// cpIndex finds the checkpoints of redelivered items; built on the
	// first redelivery, shared by the run's workers under cpLock.
	cpLock   ctxLock
	cpIndex  checkpointIndex
	cpStream jetstream.Stream
}

type stepBlock struct {
	def   *workflow.Block
	block pluginhost.Caller
}

// Run runs wf to the end of its synchronous work: every item read and
// through every step. Sinks and later events (signatures) are the
// business of `paperflow serve`. Other hosts on the same NATS may join the
// run (Join) and share its items; Run returns when every item has an
// outcome, whoever processed it.
func (e *Engine) Run(ctx context.Context, wf *workflow.Workflow, ro RunOptions) (*Summary, error) {
	start := time.Now()
	rec, err := e.openRun(ctx, wf, ro.RunID, ro)
	if err != nil {
		return nil, err
	}
	defer e.release(rec.ID)
	if ro.OnStart != nil {
		ro.OnStart(rec.ID)
	}
	resumed := ro.RunID != ""
	if resumed {
		// Items the interrupted process held are still in the work queue
		// but pending on the old consumer until its ack wait ends; a fresh
		// consumer hands them out at once (checkpoints keep finished
		// blocks from running again).
		_ = e.opts.Store.Items.DeleteConsumer(ctx, consumerName(rec.ID))
	}
	if _, err := e.opts.Store.Items.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       consumerName(rec.ID),
		FilterSubject: bus.ItemsSubject(wf.Name, rec.ID),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       e.opts.ItemTimeout,
		MaxAckPending: e.opts.Workers * e.opts.BatchSize * 4,
	}); err != nil {
		e.finishRun(rec.ID, err)
		return nil, fmt.Errorf("run %s: items consumer: %w", rec.ID, err)
	}
	sum, err := e.participate(ctx, wf, rec, ro, true, resumed)
	if err != nil && ro.Interruptible && ctx.Err() != nil {
		// Hosts that joined the run may have completed it meanwhile: that
		// is its end, not the interrupt.
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		done, ierr := e.Interrupt(ictx, rec.ID)
		var rf *runFailedError
		switch {
		case ierr == nil:
			sum, err = done, nil
		case errors.As(ierr, &rf):
			err = ierr
		}
	}
	if err != nil {
		return nil, err
	}
	sum.Seconds = time.Since(start).Seconds()
	return sum, nil
}

// ErrJoined is returned by Join for a run this engine already works on.
var ErrJoined = errors.New("already working on this run")

// Join works on a run another host started: it takes items from the run's
// queue, and the reading of its source if the host reading it goes silent
// for ItemTimeout. It returns when every item has an outcome, or with the
// run's error when it fails.
func (e *Engine) Join(ctx context.Context, wf *workflow.Workflow, runID string, ro RunOptions) (*Summary, error) {
	rec, err := e.claimRun(ctx, wf, runID)
	if err != nil {
		return nil, err
	}
	defer e.release(runID)
	if rec.Status != "running" {
		return nil, fmt.Errorf("run %s is %s", runID, rec.Status)
	}
	start := time.Now()
	sum, err := e.participate(ctx, wf, rec, ro, false, false)
	if err != nil {
		return nil, err
	}
	sum.Seconds = time.Since(start).Seconds()
	return sum, nil
}

func consumerName(runID string) string { return "run-" + runID }

// participate runs this host's share of a run: workers on the run's item
// queue, the source when this host holds the source lease, and a tracker
// of every item's outcome that ends the run when all are in. The host
// that started the run records it failed on any error; a host that joined
// does so only for an error of the source, since its other troubles (a
// block it cannot start, NATS out of its reach) are its own and the other
// hosts carry on.
func (e *Engine) participate(ctx context.Context, wf *workflow.Workflow, rec *runRecord, ro RunOptions, origin, takeSource bool) (*Summary, error) {
	rs := &runState{e: e, wf: wf, runID: rec.ID, resume: rec.Resumes > 0, chunk: rec.Chunk, secrets: ro.Secrets, redact: ro.Secrets.Redactor()}
	if err := rs.startBlocks(ctx); err != nil {
		if origin {
			e.finishRun(rec.ID, err)
		}
		return nil, err
	}
	defer rs.close()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	tr := newTracker(rec)
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return e.track(gctx, rec.ID, tr, ro.Progress, stop) })
	g.Go(func() error { return e.watchRun(gctx, rec.ID, tr) })
	if !rec.SourceDone {
		g.Go(func() error { return rs.readSource(gctx, tr, takeSource) })
	}
	for range e.opts.Workers {
		g.Go(func() error { return rs.work(gctx) })
	}
	err := g.Wait()
	if (errors.Is(err, context.Canceled) || errors.Is(err, errCompletedElsewhere)) && ctx.Err() == nil {
		err = nil // stopped by the tracker (or another host's): the run is complete
	}
	if err != nil {
		var rf *runFailedError
		var se *sourceError
		ended := errors.As(err, &rf) || errors.Is(err, ErrInterrupted) // recorded already
		if ctx.Err() == nil && !ended && (origin || errors.As(err, &se)) {
			e.finishRun(rec.ID, err)
		}
		return nil, err
	}
	e.finishRun(rec.ID, nil)
	// Every item has its outcome: what is left of the run in the queue
	// (an ack lost with a host) is of no more use.
	_ = e.opts.Store.Items.DeleteConsumer(context.Background(), consumerName(rec.ID))
	_ = e.opts.Store.Items.Purge(context.Background(), jetstream.WithPurgeSubject(bus.ItemsSubject(wf.Name, rec.ID)))
	return tr.summary(wf.Name), nil
}

// claimRun claims a run of wf that exists for this engine and returns its
// record; the caller releases it. ErrJoined when the engine already works
// on it.
func (e *Engine) claimRun(ctx context.Context, wf *workflow.Workflow, runID string) (*runRecord, error) {
	if !e.claim(runID) {
		return nil, ErrJoined
	}
	rec, err := e.loadRun(ctx, runID)
	if err == nil && rec.Workflow != wf.Name {
		err = fmt.Errorf("run %s belongs to workflow %q, not %q", runID, rec.Workflow, wf.Name)
	}
	if err != nil {
		e.release(runID)
		return nil, err
	}
	return rec, nil
}

// claim marks a run as worked on by this engine; false if it already is.
func (e *Engine) claim(runID string) bool {
	_, loaded := e.active.LoadOrStore(runID, true)
	return !loaded
}

func (e *Engine) release(runID string) { e.active.Delete(runID) }

func (rs *runState) startBlocks(ctx context.Context) error {
	wf := rs.wf
	// Load refuses more; a workflow built in code meets the same bound on
	// the block instances one run starts.
	if len(wf.Blocks) > workflow.MaxBlocks {
		return fmt.Errorf("%s: %d blocks, more than the %d a workflow may have", wf.File, len(wf.Blocks), workflow.MaxBlocks)
	}
	defs := append([]*workflow.Block{&wf.Source}, pointers(wf.Blocks)...)
	started := make([]pluginhost.Caller, len(defs))
	var source *pluginhost.Block
	g, gctx := errgroup.WithContext(ctx)
	for i, def := range defs {
		g.Go(func() error {
			spec := pluginhost.Spec{
				Instance: pluginhost.Instance{Workflow: wf.Name, BlockID: def.ID},
				Uses:     def.Uses, Config: def.ConfigJSON(), WorkflowDir: wf.Dir, PublicURL: rs.e.opts.PublicURL,
				Settings: rs.e.opts.Plugins.Settings,
			}
			if i == 0 && def.Uses == "" {
				return nil // items come from a trigger (http, form), not a source
			}
			if emb, ok := rs.e.opts.Embedded[def.Uses]; ok && i > 0 {
				b, err := pluginhost.StartEmbedded(gctx, spec, emb)
				if err != nil {
					return fmt.Errorf("%s:%d: %w", wf.File, def.Line, err)
				}
				started[i] = b
				return nil
			}
			desc, err := rs.e.describe(gctx, def.Uses)
			if err != nil {
				return fmt.Errorf("%s:%d: block %s: %w", wf.File, def.Line, def.ID, err)
			}
			if i > 0 && desc.Kind != sdk.KindStep {
				return nil // sinks run in `paperflow serve`
			}
			spec.Path = desc.Path
			b, err := pluginhost.Start(gctx, spec, rs.e, rs.e.log)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", wf.File, def.Line, err)
			}
			if rs.e.opts.CallTimeout > 0 {
				b.CallTimeout = rs.e.opts.CallTimeout
			}
			if i == 0 {
				source = b
			} else {
				started[i] = b
			}
			return nil
		})
	}
	err := g.Wait()
	rs.source = source
	for i, b := range started[1:] {
		if b != nil {
			rs.steps = append(rs.steps, &stepBlock{def: defs[i+1], block: b})
		}
	}
	if err != nil {
		rs.close()
	}
	return err
}

func pointers(bs []workflow.Block) []*workflow.Block {
	out := make([]*workflow.Block, len(bs))
	for i := range bs {
		out[i] = &bs[i]
	}
	return out
}

func (rs *runState) close() {
	if rs.source != nil {
		rs.source.Close()
	}
	for _, s := range rs.steps {
		s.block.Close()
	}
}

// work is a run's worker: it takes batches from the run's items queue
// until the run ends, and gives up when NATS has not answered for
// maxStall.
func (rs *runState) work(ctx context.Context) error {
	return rs.workQueue(ctx, consumerName(rs.runID), batchWindow, stallRetry)
}

// fetchWindow takes the next batch of at most n messages from a queue.
type fetchWindow func(ctx context.Context, cons jetstream.Consumer, n int) ([]jetstream.Msg, error)

// batchWindow waits up to a quarter second to fill a batch: a run's items
// are queued ahead of the workers, and a fuller batch saves block calls.
func batchWindow(ctx context.Context, cons jetstream.Consumer, n int) ([]jetstream.Msg, error) {
	return fetch(ctx, cons, n, 250*time.Millisecond)
}

// liveWindow takes the first item as soon as it comes, and whatever else
// is queued by then: a trigger's caller may be waiting for its item.
func liveWindow(ctx context.Context, cons jetstream.Consumer, n int) ([]jetstream.Msg, error) {
	msgs, err := fetch(ctx, cons, 1, time.Second)
	if err != nil || len(msgs) == 0 || n <= 1 {
		return msgs, err
	}
	more, err := fetchNoWait(cons, n-1)
	if err != nil {
		// The item taken is worked on; the trouble shows again on the
		// next fetch.
		return msgs, nil
	}
	return append(msgs, more...), nil
}

// endlessRetry is how a worker that lives as long as its host (a
// trigger's) tries NATS again: until stopped.
var endlessRetry = retries.Policy{Initial: 50 * time.Millisecond, Multiplier: 2, Cap: 5 * time.Second}

// batchRetryDelay is how long a batch that failed waits in the queue
// before it is handed out again, to whichever worker of whichever host.
const batchRetryDelay = time.Second

// workQueue takes batches from the items consumer named consumer through
// take and runs them through the steps until ctx ends. A batch that
// fails (NATS failing over, checkpoints that could not be read) goes back
// to the queue, to be handed out again after batchRetryDelay rather than
// after its ack wait, and the loop goes on, pausing longer while the
// trouble lasts; once patience gives up (its MaxElapsed) the error is
// returned. Checkpoints and event ids keep the second try of a batch from
// redoing or republishing anything.
func (rs *runState) workQueue(ctx context.Context, consumer string, take fetchWindow, patience retries.Policy) error {
	e := rs.e
	var cons jetstream.Consumer
	var stalled goretry.Backoff // since the first failure in a row
	trouble := func(what string, err error) error {
		if stalled == nil {
			stalled = patience.Backoff()
		}
		pause, stop := stalled.Next()
		if stop {
			return fmt.Errorf("%s: %w (for %s)", what, err, patience.MaxElapsed)
		}
		e.log.Warn(what+"; trying again", "run", rs.runID, "err", err)
		sleepCtx(ctx, pause)
		return nil
	}
	b := &batcher{rs: rs, take: take, topUp: topUpWait}
	defer b.close()
	for ctx.Err() == nil {
		if cons == nil {
			c, err := e.opts.Store.Items.Consumer(ctx, consumer)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				if err := trouble("find the items consumer", err); err != nil {
					return err
				}
				continue
			}
			cons = c
		}
		batch, took, err := b.next(ctx, cons)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			cons = nil
			if err := trouble("fetch items", err); err != nil {
				return err
			}
			continue
		}
		if took == 0 {
			continue
		}
		if err := rs.processBatch(ctx, batch); err != nil {
			if ctx.Err() != nil {
				break
			}
			// A hand-back that does not reach NATS leaves the items to
			// their ack wait: the batch's heartbeat has stopped.
			for _, q := range batch {
				_ = q.msg.NakWithDelay(batchRetryDelay)
			}
			if err := trouble("batch failed", err); err != nil {
				return err
			}
			continue
		}
		stalled = nil
	}
	return ctx.Err()
}

// batcher takes a worker's batches from the queue, BatchSize items each
// whether the queue holds chunks of the run's or single items (split out
// of a chunk to be tried again, queued by a trigger or an operator's
// retry): a batch of single items is not one item per block call, one
// checkpoint write per step and one outcome write.
type batcher struct {
	rs   *runState
	take fetchWindow
	// topUp is how long a fetch that tops a batch up waits (topUpWait).
	topUp time.Duration
	// left is a message taken that did not fit the batch before; the next
	// batch starts with it. stopLeft ends keeping it in progress meanwhile.
	left     *queued
	stopLeft func()
}

// next takes the next batch and says how many messages it took for it
// (some are not for the batch: see admit). It fetches through take
// as many messages as BatchSize items make in the run's chunks; while
// the batch is short of BatchSize items and the queue may hold more, it
// tops the batch up (waiting only topUp), never asking for more messages than
// the items missing can make in whole chunks (at least one). So a batch
// passes BatchSize items only for a chunk larger than that on its own,
// and a message that would take it past is left for the next batch.
func (b *batcher) next(ctx context.Context, cons jetstream.Consumer) ([]queued, int, error) {
	size, chunk := b.rs.e.opts.BatchSize, max(1, b.rs.chunk)
	var batch []queued
	items, took := 0, 0
	add := func(msgs []jetstream.Msg) {
		took += len(msgs)
		for _, m := range msgs {
			q, ok := b.rs.admit(m)
			if !ok {
				continue
			}
			n := len(q.items())
			if len(batch) > 0 && items+n > size && b.left == nil {
				b.keep(q)
				continue
			}
			batch = append(batch, q)
			items += n
		}
	}
	more := true
	if b.left != nil {
		b.stopLeft()
		batch, items, took, b.left = append(batch, *b.left), len(b.left.items()), 1, nil
	} else {
		want := max(1, size/chunk)
		msgs, err := b.take(ctx, cons, want)
		if err != nil {
			return nil, 0, err
		}
		add(msgs)
		more = len(msgs) == want
	}
	for more && items < size && b.left == nil && ctx.Err() == nil {
		want := max(1, (size-items)/chunk)
		msgs, err := fetch(ctx, cons, want, b.topUp)
		if err != nil {
			// The batch taken is worked on; the trouble shows again on
			// the next fetch.
			break
		}
		add(msgs)
		more = len(msgs) == want
	}
	return batch, took, nil
}

// topUpWait is how long a batch being topped up waits for messages
// short of those it asked for: long enough for NATS to hand out what the
// queue holds, short enough that a batch the queue cannot fill is not
// held back. (A fetch that does not wait at all can come back empty
// while the queue holds messages.)
const topUpWait = 10 * time.Millisecond

// keep leaves q for the next batch, kept in progress until then.
func (b *batcher) keep(q queued) {
	b.left = &q
	b.stopLeft = bus.KeepInProgress([]jetstream.Msg{q.msg}, b.rs.e.opts.ItemTimeout/4)
}

// close stops keeping a message left for a next batch that will not come;
// NATS hands it out again after its ack wait, as any message a stopped
// worker took.
func (b *batcher) close() {
	if b.left != nil {
		b.stopLeft()
		b.left = nil
	}
}

// tracker counts outcomes by item, so a duplicate outcome (after a crash)
// is counted once.
type tracker struct {
	mu         sync.Mutex
	read       int64
	sourceDone bool
	seen       map[string]bool
	sum        Summary
	changed    chan struct{}
}

func newTracker(rec *runRecord) *tracker {
	return &tracker{read: rec.Enqueued, sourceDone: rec.SourceDone, seen: map[string]bool{}, changed: make(chan struct{}, 1),
		sum: Summary{RunID: rec.ID, Events: map[string]int64{}, Errors: []ItemError{}}}
}

func (t *tracker) setRead(n int64, done bool) {
	t.mu.Lock()
	changed := n > t.read || (done && !t.sourceDone)
	t.read, t.sourceDone = max(t.read, n), t.sourceDone || done
	t.mu.Unlock()
	if !changed {
		return
	}
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// queued is how many items are queued so far, and whether that is all.
func (t *tracker) queued() (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.read, t.sourceDone
}

func (t *tracker) add(o outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen[o.Item] {
		return
	}
	t.seen[o.Item] = true
	t.sum.Items++
	if o.Status == "succeeded" {
		t.sum.Succeeded++
	} else {
		t.sum.Failed++
		if len(t.sum.Errors) < MaxReportedErrors {
			t.sum.Errors = append(t.sum.Errors, ItemError{Item: o.Item, Origin: o.Origin, Block: o.Block, Error: o.Error})
		}
	}
	for k, n := range o.Events {
		t.sum.Events[k] += int64(n)
	}
}

func (t *tracker) progress() (Progress, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := Progress{Read: t.read, SourceDone: t.sourceDone, Done: t.sum.Items, Succeeded: t.sum.Succeeded, Failed: t.sum.Failed}
	return p, t.sourceDone && t.sum.Items >= t.read
}

func (t *tracker) summary(wf string) *Summary {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.sum
	s.Workflow = wf
	return &s
}

// track follows the run's outcomes from the start of the stream and calls
// stop when every read item has an outcome.
func (e *Engine) track(ctx context.Context, runID string, tr *tracker, progress func(Progress), stop func()) error {
	incoming := make(chan struct{}, 1)
	go e.followOutcomes(ctx, runID, 0, func(batch []outcome) {
		for _, o := range batch {
			tr.add(o)
		}
		select {
		case incoming <- struct{}{}:
		default:
		}
	})
	report := time.NewTicker(10 * time.Second)
	defer report.Stop()
	for {
		p, done := tr.progress()
		if progress != nil {
			progress(p)
		}
		if done {
			stop()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-incoming:
		case <-tr.changed:
		case <-report.C:
			e.log.Info("run progress", "run", runID, "read", p.Read, "source_done", p.SourceDone, "done", p.Done, "failed", p.Failed)
		}
	}
}

// followOutcomes hands each recorded batch of a run's outcomes to add,
// from stream sequence from (0: the first) until ctx ends. It fetches
// from an ephemeral pull consumer of its own and, when a fetch fails or
// nothing came for a while, makes a new one from the next stream
// sequence: a consumer on a NATS node that died stays silent. (An ordered
// consumer can hang for good in that case.)
func (e *Engine) followOutcomes(ctx context.Context, runID string, from uint64, add func([]outcome)) {
	next := from // stream sequence to read from; 0: the start
	var cons jetstream.Consumer
	var quietSince time.Time
	drop := func() {
		if cons != nil {
			name := cons.CachedInfo().Name
			go func() {
				dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = e.opts.Store.Outcomes.DeleteConsumer(dctx, name)
			}()
		}
		cons = nil
	}
	defer drop()
	for ctx.Err() == nil {
		if cons == nil {
			cfg := jetstream.ConsumerConfig{
				FilterSubject: bus.OutcomesSubject(runID), AckPolicy: jetstream.AckNonePolicy,
				MemoryStorage: true, Replicas: 1, InactiveThreshold: time.Minute,
			}
			if next > 0 {
				cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, next
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			c, err := e.opts.Store.Outcomes.CreateConsumer(cctx, cfg)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					e.log.Warn("follow outcomes; trying again", "run", runID, "err", err)
					sleepCtx(ctx, 500*time.Millisecond)
				}
				continue
			}
			cons, quietSince = c, time.Now()
		}
		// Each record is handed on as it comes, not once the fetch ends:
		// the last records of a run come fewer than asked for, and would
		// wait for the fetch to expire.
		n, err := fetchEach(ctx, cons, 256, time.Second, func(m jetstream.Msg) {
			if md, err := m.Metadata(); err == nil {
				next = md.Sequence.Stream + 1
			}
			var outcomes []outcome
			if json.Unmarshal(m.Data(), &outcomes) == nil {
				add(outcomes)
			}
		})
		switch {
		case ctx.Err() != nil:
		case err != nil:
			e.log.Warn("follow outcomes; starting again", "run", runID, "err", err)
			drop()
			sleepCtx(ctx, 250*time.Millisecond)
		case n > 0:
			quietSince = time.Now()
		case time.Since(quietSince) > 5*time.Second:
			drop() // quiet for long: make sure the consumer is alive
		}
	}
}

// fetch takes up to n messages, waiting at most wait for them. An error
// that ends a fetch after some messages came is left for the next fetch
// to meet; a fetch that timed out with none is not an error. It returns
// ctx's error as soon as ctx ends.
func fetch(ctx context.Context, cons jetstream.Consumer, n int, wait time.Duration) ([]jetstream.Msg, error) {
	var msgs []jetstream.Msg
	if _, err := fetchEach(ctx, cons, n, wait, func(m jetstream.Msg) { msgs = append(msgs, m) }); err != nil {
		return nil, err
	}
	return msgs, nil
}

// fetchEach is fetch handing each message to each as it comes; it
// returns how many came. When ctx ends it stops waiting at once (the end
// of a run does not wait for its workers' fetches to expire); what the
// fetch still brings is left to its ack wait, as any message taken by a
// worker that stopped is.
func fetchEach(ctx context.Context, cons jetstream.Consumer, n int, wait time.Duration, each func(jetstream.Msg)) (int, error) {
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(wait))
	if err != nil {
		return 0, err
	}
	got := 0
	msgs := batch.Messages()
	for {
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case m, ok := <-msgs:
			if !ok {
				if err := batch.Error(); err != nil && got == 0 && !errors.Is(err, nats.ErrTimeout) {
					return 0, err
				}
				return got, nil
			}
			got++
			each(m)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
