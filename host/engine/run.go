package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk"
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

// itemAckWait is how long a host may hold an item without a sign of life
// before NATS hands it to another worker; a batch in progress signals
// every itemAckWait/3.
const itemAckWait = 30 * time.Second

// MaxReportedErrors bounds Summary.Errors; the count is in Failed.
const MaxReportedErrors = 1000

// runRecord is a run's entry in the runs bucket.
type runRecord struct {
	ID         string    `json:"id"`
	Workflow   string    `json:"workflow"`
	File       string    `json:"file"`
	Status     string    `json:"status"` // running, completed, failed
	Enqueued   int64     `json:"enqueued"`
	SourceDone bool      `json:"source_done"`
	Error      string    `json:"error,omitempty"`
	Created    time.Time `json:"created"`
	Finished   time.Time `json:"finished,omitzero"`
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
}

type stepBlock struct {
	def   *workflow.Block
	block pluginhost.Caller
}

// Run runs wf to the end of its synchronous work: every item read and
// through every step. Sinks and later events (signatures) are the
// business of `paperflow serve`.
func (e *Engine) Run(ctx context.Context, wf *workflow.Workflow, ro RunOptions) (*Summary, error) {
	start := time.Now()
	rec, err := e.openRun(ctx, wf, ro.RunID)
	if err != nil {
		return nil, err
	}
	if ro.OnStart != nil {
		ro.OnStart(rec.ID)
	}
	rs := &runState{e: e, wf: wf, runID: rec.ID, resume: ro.RunID != "", secrets: ro.Secrets}
	if err := rs.startBlocks(ctx); err != nil {
		e.finishRun(rec, err)
		return nil, err
	}
	defer rs.close()

	if rs.resume {
		// Items the interrupted process held are still in the work queue
		// but pending on the old consumer until its ack wait ends; a fresh
		// consumer hands them out at once (checkpoints keep finished
		// blocks from running again).
		_ = e.opts.Store.Items.DeleteConsumer(ctx, "run-"+rec.ID)
	}
	cons, err := e.opts.Store.Items.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       "run-" + rec.ID,
		FilterSubject: bus.ItemsSubject(wf.Name, rec.ID),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       itemAckWait,
		MaxAckPending: e.opts.Workers * e.opts.BatchSize * 4,
	})
	if err != nil {
		return nil, fmt.Errorf("run %s: items consumer: %w", rec.ID, err)
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	tr := newTracker(rec)
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return e.track(gctx, rec.ID, tr, ro.Progress, stop) })
	if !rec.SourceDone {
		g.Go(func() error { return rs.feed(gctx, rec, tr) })
	}
	for range e.opts.Workers {
		g.Go(func() error { return rs.work(gctx, cons) })
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() == nil {
		err = nil // stopped by the tracker: the run is complete
	}
	if err != nil {
		if ctx.Err() == nil {
			e.finishRun(rec, err)
		}
		return nil, err
	}
	e.finishRun(rec, nil)
	_ = e.opts.Store.Items.DeleteConsumer(context.Background(), "run-"+rec.ID)
	sum := tr.summary(wf.Name)
	sum.Seconds = time.Since(start).Seconds()
	return sum, nil
}

func (e *Engine) openRun(ctx context.Context, wf *workflow.Workflow, runID string) (*runRecord, error) {
	kv := e.opts.Store.Runs
	if runID == "" {
		rec := &runRecord{ID: NewRunID(), Workflow: wf.Name, File: wf.File, Status: "running", Created: time.Now().UTC()}
		raw, _ := json.Marshal(rec)
		if _, err := kv.Create(ctx, rec.ID, raw); err != nil {
			return nil, fmt.Errorf("create run record: %w", err)
		}
		return rec, nil
	}
	ent, err := kv.Get(ctx, runID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("run %s not found (list runs with `paperflow runs`; runs are kept %s)", runID, bus.Retention)
	}
	if err != nil {
		return nil, fmt.Errorf("load run %s: %w", runID, err)
	}
	rec := &runRecord{}
	if err := json.Unmarshal(ent.Value(), rec); err != nil {
		return nil, fmt.Errorf("run %s: corrupt record: %w", runID, err)
	}
	if rec.Workflow != wf.Name {
		return nil, fmt.Errorf("run %s belongs to workflow %q, not %q", runID, rec.Workflow, wf.Name)
	}
	rec.Status = "running"
	e.saveRun(rec)
	return rec, nil
}

func (e *Engine) saveRun(rec *runRecord) {
	raw, _ := json.Marshal(rec)
	if _, err := e.opts.Store.Runs.Put(context.Background(), rec.ID, raw); err != nil {
		e.log.Warn("save run record", "run", rec.ID, "err", err)
	}
}

func (e *Engine) finishRun(rec *runRecord, err error) {
	rec.Status, rec.Finished = "completed", time.Now().UTC()
	if err != nil {
		rec.Status, rec.Error = "failed", err.Error()
	}
	e.saveRun(rec)
}

func (rs *runState) startBlocks(ctx context.Context) error {
	wf := rs.wf
	defs := append([]*workflow.Block{&wf.Source}, pointers(wf.Blocks)...)
	started := make([]pluginhost.Caller, len(defs))
	var source *pluginhost.Block
	g, gctx := errgroup.WithContext(ctx)
	for i, def := range defs {
		g.Go(func() error {
			spec := pluginhost.Spec{
				Instance: pluginhost.Instance{Workflow: wf.Name, BlockID: def.ID},
				Uses:     def.Uses, Config: def.ConfigJSON(), WorkflowDir: wf.Dir, PublicURL: rs.e.opts.PublicURL,
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

// itemMsg is one item in the work queue.
type itemMsg struct {
	ID     string          `json:"id"`
	Origin string          `json:"origin,omitempty"`
	Fields json.RawMessage `json:"fields,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// feed reads the source into the work queue. Each batch is acknowledged by
// NATS before the run record counts it, so a resumed run skips exactly the
// items already queued (and Nats-Msg-Id absorbs the overlap).
func (rs *runState) feed(ctx context.Context, rec *runRecord, tr *tracker) error {
	e := rs.e
	subject := bus.ItemsSubject(rs.wf.Name, rs.runID)
	seq := rec.Enqueued
	err := rs.source.Read(ctx, rs.runID, rec.Enqueued, func(items []*blockv1.Item) error {
		futures := make([]jetstream.PubAckFuture, 0, len(items))
		for _, it := range items {
			seq++
			raw, err := json.Marshal(itemMsg{ID: strconv.FormatInt(seq, 10), Origin: it.Origin, Fields: it.Fields, Error: it.Error})
			if err != nil {
				return err
			}
			msg := nats.NewMsg(subject)
			msg.Data = raw
			msg.Header.Set(jetstream.MsgIDHeader, rs.runID+"."+strconv.FormatInt(seq, 10))
			f, err := e.opts.Bus.JS.PublishMsgAsync(msg)
			if err != nil {
				return fmt.Errorf("queue item %d: %w", seq, err)
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("queue item: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		rec.Enqueued = seq
		e.saveRun(rec)
		tr.setRead(seq, false)
		return nil
	})
	if err != nil {
		return fmt.Errorf("source %s (%s): %w", rs.wf.Source.ID, rs.wf.Source.Uses, err)
	}
	rec.SourceDone = true
	e.saveRun(rec)
	tr.setRead(seq, true)
	return nil
}

// work fetches batches of items and runs them through the steps until
// the run context ends.
func (rs *runState) work(ctx context.Context, cons jetstream.Consumer) error {
	for ctx.Err() == nil {
		batch, err := cons.Fetch(rs.e.opts.BatchSize, jetstream.FetchMaxWait(250*time.Millisecond))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("fetch items: %w", err)
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) == 0 {
			continue
		}
		if err := rs.processBatch(ctx, msgs); err != nil {
			return err
		}
	}
	return ctx.Err()
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
	t.read, t.sourceDone = n, done
	t.mu.Unlock()
	select {
	case t.changed <- struct{}{}:
	default:
	}
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
	cons, err := e.opts.Store.Outcomes.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.OutcomesSubject(runID)},
	})
	if err != nil {
		return fmt.Errorf("follow outcomes: %w", err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("follow outcomes: %w", err)
	}
	defer msgs.Stop()
	incoming := make(chan struct{}, 1)
	go func() {
		for {
			m, err := msgs.Next()
			if err != nil {
				return
			}
			var batch []outcome
			if json.Unmarshal(m.Data(), &batch) == nil {
				for _, o := range batch {
					tr.add(o)
				}
			}
			select {
			case incoming <- struct{}{}:
			default:
			}
		}
	}()
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
		}
	}
}
