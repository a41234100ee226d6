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
	"golang.org/x/sync/errgroup"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/workflow"
)

// Run statuses of a trigger's day run: open while it takes items, then
// completed once its day is over and every item has an outcome.
const (
	StatusOpen = "open"
)

// TriggerItem is one item a trigger (an HTTP post, a form) hands over.
type TriggerItem struct {
	// ID names the item in its run; empty gets a random one. A caller
	// that may repeat itself (an Idempotency-Key) derives it, so the
	// repeat is the same message and is queued once.
	ID     string
	Origin string
	Fields json.RawMessage // a JSON object
}

// TriggerRunID names the run that holds a trigger's items of one day
// (UTC), so a long-lived trigger's runs stay bounded.
func TriggerRunID(workflow, trigger string, t time.Time) string {
	return workflow + "-" + trigger + "-" + t.UTC().Format("20060102")
}

// NewItemID returns a random item id for a trigger's item.
func NewItemID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Triggered takes the items of a host's triggers into day runs, works on
// those runs with every other host that serves the workflow, and tells a
// caller when its items are done. Items take the batch path: the work
// queue, per-(item, block) checkpoints, deterministic event ids.
// One Triggered serves a host; it is safe for concurrent use.
type Triggered struct {
	e      *Engine
	opened sync.Map // run id → struct{}: record and consumer exist

	mu      sync.Mutex
	watches map[string]*outcomeWatch // by run id
}

// NewTriggered prepares the trigger side of an engine.
func (e *Engine) NewTriggered() *Triggered {
	return &Triggered{e: e, watches: map[string]*outcomeWatch{}}
}

// Open makes sure a trigger's run exists and has its items consumer; it
// is cheap after the first call for a run.
func (t *Triggered) Open(ctx context.Context, wf *workflow.Workflow, trigger, runID string) error {
	if _, ok := t.opened.Load(runID); ok {
		return nil
	}
	e := t.e
	rec := &runRecord{ID: runID, Workflow: wf.Name, File: wf.File, Trigger: trigger, Status: StatusOpen, SourceDone: false, Created: time.Now().UTC()}
	raw, _ := json.Marshal(rec)
	if _, err := e.opts.Store.Runs.Create(ctx, runID, raw); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("open run %s: %w", runID, err)
	}
	if _, err := e.opts.Store.Items.CreateOrUpdateConsumer(ctx, t.consumerConfig(wf.Name, runID)); err != nil {
		return fmt.Errorf("run %s: items consumer: %w", runID, err)
	}
	t.opened.Store(runID, struct{}{})
	return nil
}

func (t *Triggered) consumerConfig(workflow, runID string) jetstream.ConsumerConfig {
	o := t.e.opts
	return jetstream.ConsumerConfig{
		Durable:       consumerName(runID),
		FilterSubject: bus.ItemsSubject(workflow, runID),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.ItemTimeout,
		MaxAckPending: o.Workers * o.BatchSize * 4,
	}
}

// Enqueue queues items into a trigger's run; runID "" is today's. It
// returns once NATS holds every item. An item queued again with the same
// id within the items stream's duplicate window is stored once; later,
// its checkpoints keep any block from running again.
func (t *Triggered) Enqueue(ctx context.Context, wf *workflow.Workflow, trigger, runID string, items []TriggerItem) (string, []string, error) {
	if runID == "" {
		runID = TriggerRunID(wf.Name, trigger, time.Now())
	}
	if err := t.Open(ctx, wf, trigger, runID); err != nil {
		return "", nil, err
	}
	subject := bus.ItemsSubject(wf.Name, runID)
	ids := make([]string, len(items))
	msgs := make([]*nats.Msg, len(items))
	for i, it := range items {
		id := it.ID
		if id == "" {
			id = NewItemID()
		}
		ids[i] = id
		raw, err := json.Marshal(itemMsg{ID: id, Origin: it.Origin, Fields: it.Fields})
		if err != nil {
			return "", nil, err
		}
		m := nats.NewMsg(subject)
		m.Data = raw
		m.Header.Set(jetstream.MsgIDHeader, runID+"."+id)
		msgs[i] = m
	}
	if err := t.e.publishAll(ctx, msgs, "queue items"); err != nil {
		return "", nil, err
	}
	return runID, ids, nil
}

// Serve works on a trigger's runs of wf until ctx ends: today's, and an
// earlier day's until its last item has an outcome, when it is recorded
// completed. Every host serving the workflow shares the items.
func (t *Triggered) Serve(ctx context.Context, wf *workflow.Workflow, trigger string, ro RunOptions) error {
	serving := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, stop := range serving {
			stop()
		}
		wg.Wait()
	}()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		now := time.Now()
		want := []string{TriggerRunID(wf.Name, trigger, now.Add(-24*time.Hour)), TriggerRunID(wf.Name, trigger, now)}
		for i, runID := range want {
			if _, ok := serving[runID]; ok {
				continue
			}
			if i == 0 {
				rec, err := t.e.loadRun(ctx, runID)
				if err != nil || rec.Status != StatusOpen {
					continue
				}
			}
			if err := t.Open(ctx, wf, trigger, runID); err != nil {
				t.e.log.Warn("open the trigger's run; trying again", "run", runID, "err", err)
				continue
			}
			rctx, stop := context.WithCancel(ctx)
			serving[runID] = stop
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.serveRun(rctx, wf, runID, i == 0, ro)
			}()
		}
		for runID, stop := range serving {
			if runID != want[0] && runID != want[1] {
				stop() // two days old: its own goroutine closed it or another host will
				delete(serving, runID)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// serveRun runs workers on one day run. A past day's run (ending) is
// closed once no item of it is left in the queue.
func (t *Triggered) serveRun(ctx context.Context, wf *workflow.Workflow, runID string, ending bool, ro RunOptions) {
	e := t.e
	for ctx.Err() == nil {
		rs := &runState{e: e, wf: wf, runID: runID, secrets: ro.Secrets, redact: ro.Secrets.Redactor()}
		err := rs.startBlocks(ctx)
		if err == nil {
			err = t.work(ctx, rs, ending)
			rs.close()
		}
		if err == nil || ctx.Err() != nil {
			return
		}
		e.log.Warn("trigger run stopped; starting again", "run", runID, "err", err)
		sleepCtx(ctx, 5*time.Second)
	}
}

// work runs the workers; for an ending run it also watches the queue and
// records the run completed when it is empty.
func (t *Triggered) work(ctx context.Context, rs *runState, ending bool) error {
	g, gctx := errgroup.WithContext(ctx)
	wctx, stop := context.WithCancel(gctx)
	defer stop()
	for range t.e.opts.Workers {
		g.Go(func() error {
			t.workLive(wctx, rs)
			return nil
		})
	}
	g.Go(func() error {
		defer stop()
		return t.watchDay(wctx, rs.wf.Name, rs.runID, ending)
	})
	return g.Wait()
}

// watchDay ends the workers of a run recorded completed, and completes a
// past day's run once its queue is empty.
func (t *Triggered) watchDay(ctx context.Context, workflow, runID string, ending bool) error {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		rec, err := t.e.loadRun(ctx, runID)
		if err != nil {
			continue
		}
		if rec.Status != StatusOpen {
			return nil
		}
		if !ending && runID == TriggerRunID(workflow, rec.Trigger, time.Now()) {
			continue
		}
		// The day is over: posts of its last moments may still arrive for
		// a minute, then the run ends with its queue.
		if day, err := time.Parse("20060102", runID[len(runID)-8:]); err != nil || time.Now().Before(day.Add(24*time.Hour+time.Minute)) {
			continue
		}
		cons, err := t.e.opts.Store.Items.Consumer(ctx, consumerName(runID))
		if err != nil {
			continue
		}
		info, err := cons.Info(ctx)
		if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
			continue
		}
		if _, err := t.e.updateRun(ctx, runID, func(r *runRecord) error {
			if r.Status != StatusOpen {
				return errUnchanged
			}
			r.Status, r.Finished, r.SourceDone = "completed", time.Now().UTC(), true
			r.Enqueued = int64(info.Delivered.Stream)
			return nil
		}); err != nil && !errors.Is(err, errUnchanged) {
			continue
		}
		_ = t.e.opts.Store.Items.DeleteConsumer(context.WithoutCancel(ctx), consumerName(runID))
		return nil
	}
}

// ItemResult is how one item of a trigger ended: what `?wait=` answers.
type ItemResult struct {
	ItemID string `json:"item_id"`
	// Status is succeeded or failed; pending when the wait ended first.
	Status string `json:"status"`
	Block  string `json:"block,omitempty"`
	Error  string `json:"error,omitempty"`
	// Outputs are each finished block's outputs, by block id.
	Outputs map[string]json.RawMessage `json:"outputs"`
	// Events are the envelopes the item's blocks published, in order.
	Events []json.RawMessage `json:"events"`
}

// Expectation is interest in the outcomes of items about to be queued.
type Expectation struct {
	t     *Triggered
	wf    *workflow.Workflow
	runID string
	ids   []string
	since time.Time
	w     *outcomeWatch
	ch    map[string]chan outcome
}

// Expect registers interest in the outcomes of items before they are
// queued, so none can come and go unseen; Close it when done.
func (t *Triggered) Expect(ctx context.Context, wf *workflow.Workflow, runID string, ids []string) (*Expectation, error) {
	w, err := t.watch(ctx, runID)
	if err != nil {
		return nil, err
	}
	x := &Expectation{t: t, wf: wf, runID: runID, ids: ids, since: time.Now().Add(-2 * time.Second), w: w, ch: map[string]chan outcome{}}
	for _, id := range ids {
		x.ch[id] = w.expect(id)
	}
	return x, nil
}

// Close gives up the interest.
func (x *Expectation) Close() {
	for id, ch := range x.ch {
		x.w.forget(id, ch)
	}
	x.t.release(x.runID, x.w)
}

// Wait returns each item's result, in the order expected, once every item
// has an outcome or ctx ends (the items not done then are "pending").
func (x *Expectation) Wait(ctx context.Context) ([]ItemResult, error) {
	out := make([]ItemResult, len(x.ids))
	for i, id := range x.ids {
		out[i] = ItemResult{ItemID: id, Status: "pending", Outputs: map[string]json.RawMessage{}, Events: []json.RawMessage{}}
		select {
		case o := <-x.ch[id]:
			r, err := x.t.result(context.WithoutCancel(ctx), x.wf, x.runID, o, x.since)
			if err != nil {
				return nil, err
			}
			out[i] = r
		case <-ctx.Done():
		}
	}
	return out, nil
}

// result reads an item's outputs from its checkpoints and its events from
// the events stream, by their deterministic ids. Both are read from the
// moment the caller began to wait, so the cost does not grow with the run.
func (t *Triggered) result(ctx context.Context, wf *workflow.Workflow, runID string, o outcome, since time.Time) (ItemResult, error) {
	r := ItemResult{ItemID: o.Item, Status: o.Status, Block: o.Block, Error: o.Error, Outputs: map[string]json.RawMessage{}, Events: []json.RawMessage{}}
	cps, err := t.findCheckpoints(ctx, runID, o.Item, since)
	if err != nil {
		return r, err
	}
	want := map[string]bool{}
	for _, b := range wf.Blocks {
		cp, ok := cps[b.ID]
		if !ok {
			continue
		}
		r.Outputs[b.ID] = cp.Outputs
		for typ, n := range cp.Events {
			for k := range n {
				id := b.ID
				if k > 0 {
					id = fmt.Sprintf("%s#%d", b.ID, k)
				}
				want[events.ID(wf.Name, runID, o.Item, id, events.Type(typ))] = true
			}
		}
	}
	if len(want) == 0 {
		return r, nil
	}
	evs, err := t.findEvents(ctx, wf.Name, want, since)
	if err != nil {
		return r, err
	}
	r.Events = evs
	return r, nil
}

// findCheckpoints reads an item's checkpoints written since a moment, by
// block. An entry holds one item (<run>.<item>.<block>) or a batch of
// them (<run>.b.<batch>.<block>, {"items": {...}}).
func (t *Triggered) findCheckpoints(ctx context.Context, runID, itemID string, since time.Time) (map[string]checkpoint, error) {
	stream, err := checkpointStream(ctx, t.e.opts.Bus.JS)
	if err != nil {
		return nil, err
	}
	prefix := "$KV." + bus.CheckpointsBucket + "." + runID + "."
	out := map[string]checkpoint{}
	err = readStream(ctx, stream, jetstream.ConsumerConfig{
		FilterSubject: prefix + ">", DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since,
	}, 0, func(m jetstream.Msg) {
		key := strings.TrimPrefix(m.Subject(), prefix)
		dot := strings.LastIndexByte(key, '.')
		if dot < 0 {
			return
		}
		head, block := key[:dot], key[dot+1:]
		if strings.HasPrefix(head, "b.") {
			var rec struct {
				Items map[string]checkpoint `json:"items"`
			}
			if json.Unmarshal(m.Data(), &rec) == nil {
				if cp, ok := rec.Items[itemID]; ok {
					out[block] = cp
				}
			}
			return
		}
		var cp checkpoint
		if head == itemID && json.Unmarshal(m.Data(), &cp) == nil {
			out[block] = cp
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	return out, nil
}

// findEvents reads the workflow's events published since a moment and
// keeps those whose ids are wanted.
func (t *Triggered) findEvents(ctx context.Context, workflow string, want map[string]bool, since time.Time) ([]json.RawMessage, error) {
	stream, err := t.e.opts.Bus.JS.Stream(ctx, events.StreamName)
	if err != nil {
		return nil, fmt.Errorf("events stream: %w", err)
	}
	var out []json.RawMessage
	err = readStream(ctx, stream, jetstream.ConsumerConfig{
		FilterSubject: "paperflow.events." + workflow + ".*", DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since,
	}, 0, func(m jetstream.Msg) {
		if want[m.Headers().Get(jetstream.MsgIDHeader)] {
			out = append(out, json.RawMessage(m.Data()))
		}
	})
	if err != nil {
		return out, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// outcomeWatch follows one run's outcomes for the waiters of a host. It
// starts a little in the past and keeps what it saw for a while, so an
// item that ended just before its waiter came is still found.
type outcomeWatch struct {
	mu      sync.Mutex
	users   int
	stop    context.CancelFunc
	waiting map[string][]chan outcome
	recent  map[string]recentOutcome
}

type recentOutcome struct {
	o  outcome
	at time.Time
}

// recentFor is how long a watch keeps outcomes it has seen.
const recentFor = 5 * time.Minute

func (t *Triggered) watch(ctx context.Context, runID string) (*outcomeWatch, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if w, ok := t.watches[runID]; ok {
		w.users++
		return w, nil
	}
	since := time.Now().Add(-time.Minute)
	wctx, stop := context.WithCancel(context.Background())
	cons, err := t.e.opts.Store.Outcomes.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.OutcomesSubject(runID)},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy, OptStartTime: &since,
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("follow the outcomes of run %s: %w", runID, err)
	}
	w := &outcomeWatch{users: 1, stop: stop, waiting: map[string][]chan outcome{}, recent: map[string]recentOutcome{}}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var batch []outcome
		if json.Unmarshal(m.Data(), &batch) == nil {
			w.add(batch)
		}
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("follow the outcomes of run %s: %w", runID, err)
	}
	go func() {
		<-wctx.Done()
		cc.Stop()
	}()
	t.watches[runID] = w
	return w, nil
}

// release stops a run's watch when its last waiter has gone.
func (t *Triggered) release(runID string, w *outcomeWatch) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w.users--
	if w.users > 0 {
		return
	}
	// Kept for a while: waits come in streams, and a watch costs a
	// consumer to make.
	go func() {
		time.Sleep(recentFor)
		t.mu.Lock()
		defer t.mu.Unlock()
		if w.users == 0 && t.watches[runID] == w {
			delete(t.watches, runID)
			w.stop()
		}
	}()
}

func (w *outcomeWatch) add(batch []outcome) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, o := range batch {
		w.recent[o.Item] = recentOutcome{o: o, at: now}
		for _, ch := range w.waiting[o.Item] {
			select {
			case ch <- o:
			default:
			}
		}
		delete(w.waiting, o.Item)
	}
	if len(w.recent) > 1024 {
		for id, r := range w.recent {
			if now.Sub(r.at) > recentFor {
				delete(w.recent, id)
			}
		}
	}
}

func (w *outcomeWatch) expect(id string) chan outcome {
	ch := make(chan outcome, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if r, ok := w.recent[id]; ok {
		ch <- r.o
		return ch
	}
	w.waiting[id] = append(w.waiting[id], ch)
	return ch
}

func (w *outcomeWatch) forget(id string, ch chan outcome) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.waiting[id]
	for i, c := range list {
		if c == ch {
			w.waiting[id] = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(w.waiting[id]) == 0 {
		delete(w.waiting, id)
	}
}

// fetchNoWait takes up to n messages that are there now: a wait's reads
// look at what is stored already, so waiting for more only adds latency.
func fetchNoWait(cons jetstream.Consumer, n int) ([]jetstream.Msg, error) {
	batch, err := cons.FetchNoWait(n)
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil && len(msgs) == 0 && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
		return nil, err
	}
	return msgs, nil
}

// workLive is the worker of a trigger's run: it takes each item as soon
// as it comes (liveWindow), and tries NATS again for as long as the run
// is served, since the run lives for a day.
func (t *Triggered) workLive(ctx context.Context, rs *runState) {
	_ = rs.workQueue(ctx, consumerName(rs.runID), liveWindow, endlessRetry)
}
