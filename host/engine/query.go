package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/events"
)

// Reader answers an operator's questions about runs and their items (the
// console's pages) from what NATS keeps: the runs bucket, the outcomes
// stream, checkpoints and the events stream. It keeps a live copy of the
// run records and, for the runs looked at lately, an index of their items'
// outcomes that it extends with what was recorded since it last looked, so
// a page of a run with 100,000 items does not read them all again.
// A Reader is safe for concurrent use.
type Reader struct {
	store *bus.Store
	js    jetstream.JetStream
	log   *slog.Logger

	mu      sync.Mutex
	runs    map[string]RunInfo
	order   []string // run ids, newest first; nil when runs changed
	synced  chan struct{}
	version uint64
	notify  chan struct{} // closed and replaced on every change

	indexes map[string]*runIndex
	counts  map[string]countsAt // counts of runs whose index was evicted
}

// maxIndexes bounds how many runs keep an item index in memory.
const maxIndexes = 8

type countsAt struct {
	seq    uint64
	counts RunCounts
}

// NewReader starts following the runs bucket; the Reader stops with ctx.
func NewReader(ctx context.Context, store *bus.Store, js jetstream.JetStream, log *slog.Logger) *Reader {
	if log == nil {
		log = slog.Default()
	}
	r := &Reader{store: store, js: js, log: log, runs: map[string]RunInfo{}, synced: make(chan struct{}),
		notify: make(chan struct{}), indexes: map[string]*runIndex{}, counts: map[string]countsAt{}}
	go r.follow(ctx)
	return r
}

// follow keeps r.runs in step with the runs bucket. A watch whose NATS
// node died can go quiet without closing, so it is made anew every minute.
func (r *Reader) follow(ctx context.Context) {
	for ctx.Err() == nil {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		w, err := r.store.Runs.WatchAll(wctx)
		if err != nil {
			r.log.Warn("console: watch runs; trying again", "err", err)
		} else {
			r.drain(wctx, w)
			_ = w.Stop()
		}
		cancel()
		sleepCtx(ctx, 250*time.Millisecond)
	}
}

func (r *Reader) drain(ctx context.Context, w jetstream.KeyWatcher) {
	for ent := range bus.Entries(ctx, w) {
		r.mu.Lock()
		switch {
		case ent == nil:
			select {
			case <-r.synced:
			default:
				close(r.synced)
			}
		case ent.Operation() != jetstream.KeyValuePut:
			delete(r.runs, ent.Key())
			r.changedLocked()
		default:
			var rec runRecord
			if json.Unmarshal(ent.Value(), &rec) == nil {
				r.runs[rec.ID] = rec
				r.changedLocked()
			}
		}
		r.mu.Unlock()
	}
}

func (r *Reader) changedLocked() {
	r.order = nil
	r.version++
	close(r.notify)
	r.notify = make(chan struct{})
}

// Changed returns a channel closed at the next change of any run record,
// for pages that follow runs live.
func (r *Reader) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.notify
}

func (r *Reader) waitSynced(ctx context.Context) error {
	select {
	case <-r.synced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("read the runs bucket: %w", ctx.Err())
	}
}

// RunQuery selects a page of runs.
type RunQuery struct {
	Workflow string // "" for every workflow
	Status   string // running, interrupted, completed, failed; "" for all
	Offset   int
	Limit    int // default 50
}

// RunCounts are a run's items by outcome and its events by type.
type RunCounts struct {
	Items     int64            `json:"items"`
	Succeeded int64            `json:"succeeded"`
	Failed    int64            `json:"failed"`
	Events    map[string]int64 `json:"events"`
}

// RunRow is a run as listed: its record and its counts.
type RunRow struct {
	RunInfo
	Counts RunCounts `json:"counts"`
}

// RunPage is one page of runs, newest first.
type RunPage struct {
	Runs  []RunRow `json:"runs"`
	Total int      `json:"total"` // runs matching the query
}

// Runs lists a page of runs, newest first, with their counts.
func (r *Reader) Runs(ctx context.Context, q RunQuery) (RunPage, error) {
	if err := r.waitSynced(ctx); err != nil {
		return RunPage{}, err
	}
	if q.Limit <= 0 {
		q.Limit = 50
	}
	r.mu.Lock()
	if r.order == nil {
		r.order = make([]string, 0, len(r.runs))
		for id := range r.runs {
			r.order = append(r.order, id)
		}
		slices.SortFunc(r.order, func(a, b string) int {
			ca, cb := r.runs[a].Created, r.runs[b].Created
			if c := cb.Compare(ca); c != 0 {
				return c
			}
			return compareDesc(a, b)
		})
	}
	var page []RunInfo
	total := 0
	for _, id := range r.order {
		rec := r.runs[id]
		if (q.Workflow != "" && rec.Workflow != q.Workflow) || (q.Status != "" && rec.Status != q.Status) {
			continue
		}
		if total >= q.Offset && len(page) < q.Limit {
			page = append(page, rec)
		}
		total++
	}
	r.mu.Unlock()
	out := RunPage{Total: total, Runs: make([]RunRow, len(page))}
	var wg sync.WaitGroup
	errs := make([]error, len(page))
	sem := make(chan struct{}, 8)
	for i, rec := range page {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := r.Counts(ctx, rec.ID)
			out.Runs[i], errs[i] = RunRow{RunInfo: rec, Counts: c}, err
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func compareDesc(a, b string) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// Workflows lists the names of the workflows that have runs.
func (r *Reader) Workflows(ctx context.Context) ([]string, error) {
	if err := r.waitSynced(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, rec := range r.runs {
		if !seen[rec.Workflow] {
			seen[rec.Workflow] = true
			out = append(out, rec.Workflow)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Run returns one run's record.
func (r *Reader) Run(ctx context.Context, runID string) (RunInfo, error) {
	if err := r.waitSynced(ctx); err != nil {
		return RunInfo{}, err
	}
	r.mu.Lock()
	rec, ok := r.runs[runID]
	r.mu.Unlock()
	if ok {
		return rec, nil
	}
	// Created a moment ago and not yet seen by the watch: ask the bucket.
	ent, err := r.store.Runs.Get(ctx, runID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return RunInfo{}, fmt.Errorf("run %s: %w", runID, ErrNotFound)
	}
	if err != nil {
		return RunInfo{}, fmt.Errorf("load run %s: %w", runID, err)
	}
	if err := json.Unmarshal(ent.Value(), &rec); err != nil {
		return RunInfo{}, fmt.Errorf("run %s: corrupt record: %w", runID, err)
	}
	return rec, nil
}

// ErrNotFound: no such run or item is kept.
var ErrNotFound = errors.New("not found")

// Counts returns a run's counts as recorded so far; a retried item counts
// with its latest outcome.
func (r *Reader) Counts(ctx context.Context, runID string) (RunCounts, error) {
	last, err := r.lastOutcomeSeq(ctx, runID)
	if err != nil {
		return RunCounts{}, err
	}
	r.mu.Lock()
	c, ok := r.counts[runID]
	idx := r.indexes[runID]
	r.mu.Unlock()
	if idx == nil && ok && c.seq == last {
		return c.counts, nil
	}
	idx, err = r.index(ctx, runID, last)
	if err != nil {
		return RunCounts{}, err
	}
	idx.mu.Lock()
	defer idx.mu.Unlock()
	return idx.countsCopy(), nil
}

// runAndIndex reads a run's record and its item index as of its latest
// outcome, what a page of its items and one item's detail start from.
func (r *Reader) runAndIndex(ctx context.Context, runID string) (RunInfo, *runIndex, error) {
	rec, err := r.Run(ctx, runID)
	if err != nil {
		return RunInfo{}, nil, err
	}
	last, err := r.lastOutcomeSeq(ctx, runID)
	if err != nil {
		return RunInfo{}, nil, err
	}
	idx, err := r.index(ctx, runID, last)
	return rec, idx, err
}

func (r *Reader) lastOutcomeSeq(ctx context.Context, runID string) (uint64, error) {
	m, err := r.store.Outcomes.GetLastMsgForSubject(ctx, bus.OutcomesSubject(runID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("run %s: read outcomes: %w", runID, err)
	}
	return m.Sequence, nil
}

// runIndex is what the outcomes stream says of one run's items, up to
// stream sequence seq, with the latest outcome of each item.
type runIndex struct {
	mu     sync.Mutex
	seq    uint64
	used   time.Time
	items  []*outcome // by item number - 1 (item ids are 1, 2, 3...)
	named  map[string]*outcome
	counts RunCounts
	// eventSeq maps event ids of the run's workflow to their sequence in
	// the events stream, read up to eventsRead.
	eventSeq   map[string]uint64
	eventsRead uint64
}

func (x *runIndex) countsCopy() RunCounts {
	c := x.counts
	c.Events = make(map[string]int64, len(x.counts.Events))
	for k, v := range x.counts.Events {
		c.Events[k] = v
	}
	return c
}

// itemNumber reads an item id the engine gave (1, 2, 3...).
func itemNumber(id string) (int, bool) {
	n, err := strconv.Atoi(id)
	return n, err == nil && n > 0 && n <= 1<<26
}

func (x *runIndex) lookup(id string) *outcome {
	if n, ok := itemNumber(id); ok {
		if n <= len(x.items) {
			return x.items[n-1]
		}
		return nil
	}
	return x.named[id]
}

func (x *runIndex) add(o outcome) {
	var old *outcome
	if n, ok := itemNumber(o.Item); ok {
		for len(x.items) < n {
			x.items = append(x.items, nil)
		}
		old, x.items[n-1] = x.items[n-1], &o
	} else {
		if x.named == nil {
			x.named = map[string]*outcome{}
		}
		old, x.named[o.Item] = x.named[o.Item], &o
	}
	if old != nil {
		x.count(old, -1)
	}
	x.count(&o, 1)
}

func (x *runIndex) count(o *outcome, sign int64) {
	x.counts.Items += sign
	if o.Status == "succeeded" {
		x.counts.Succeeded += sign
	} else {
		x.counts.Failed += sign
	}
	if x.counts.Events == nil {
		x.counts.Events = map[string]int64{}
	}
	for k, n := range o.Events {
		x.counts.Events[k] += sign * int64(n)
		if x.counts.Events[k] == 0 {
			delete(x.counts.Events, k)
		}
	}
}

// index returns the run's item index, read up to at least stream
// sequence last.
func (r *Reader) index(ctx context.Context, runID string, last uint64) (*runIndex, error) {
	r.mu.Lock()
	idx := r.indexes[runID]
	if idx == nil {
		idx = &runIndex{}
		r.indexes[runID] = idx
		r.evictLocked(runID)
	}
	idx.used = time.Now()
	r.mu.Unlock()

	idx.mu.Lock()
	defer idx.mu.Unlock()
	if idx.seq >= last {
		return idx, nil
	}
	cfg := jetstream.ConsumerConfig{FilterSubject: bus.OutcomesSubject(runID)}
	if idx.seq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, idx.seq+1
	}
	err := readStream(ctx, r.store.Outcomes, cfg, last, func(m jetstream.Msg) {
		var batch []outcome
		if json.Unmarshal(m.Data(), &batch) == nil {
			for _, o := range batch {
				idx.add(o)
			}
		}
		if md, err := m.Metadata(); err == nil {
			idx.seq = md.Sequence.Stream
		}
	})
	if err != nil {
		return nil, fmt.Errorf("run %s: read outcomes: %w", runID, err)
	}
	r.mu.Lock()
	r.counts[runID] = countsAt{seq: idx.seq, counts: idx.countsCopy()}
	r.mu.Unlock()
	return idx, nil
}

// evictLocked drops the least recently used indexes beyond maxIndexes.
func (r *Reader) evictLocked(keep string) {
	for len(r.indexes) > maxIndexes {
		var oldest string
		var at time.Time
		for id, x := range r.indexes {
			if id != keep && (oldest == "" || x.used.Before(at)) {
				oldest, at = id, x.used
			}
		}
		delete(r.indexes, oldest)
	}
}

// ItemQuery selects a page of a run's items.
type ItemQuery struct {
	Status string // succeeded, failed, pending; "" for all
	Offset int
	Limit  int // default 50
}

// ItemRow is one item as the run's page lists it. Block and Error say
// where and why a failed item stopped.
type ItemRow struct {
	ID     string         `json:"id"`
	Origin string         `json:"origin,omitempty"`
	Status string         `json:"status"` // succeeded, failed, pending
	Block  string         `json:"block,omitempty"`
	Error  string         `json:"error,omitempty"`
	Events map[string]int `json:"events,omitempty"`
}

// ItemPage is one page of a run's items, in source order.
type ItemPage struct {
	Items []ItemRow `json:"items"`
	Total int       `json:"total"` // items matching the query
}

// Items lists a page of a run's items in source order with each one's
// latest outcome; items queued without an outcome yet are pending.
func (r *Reader) Items(ctx context.Context, runID string, q ItemQuery) (ItemPage, error) {
	rec, idx, err := r.runAndIndex(ctx, runID)
	if err != nil {
		return ItemPage{}, err
	}
	if q.Limit <= 0 {
		q.Limit = 50
	}
	idx.mu.Lock()
	defer idx.mu.Unlock()
	n := max(int(rec.Enqueued), len(idx.items))
	var out ItemPage
	row := func(id string, o *outcome) ItemRow {
		if o == nil {
			return ItemRow{ID: id, Status: "pending"}
		}
		return ItemRow{ID: o.Item, Origin: o.Origin, Status: o.Status, Block: o.Block, Error: o.Error, Events: o.Events}
	}
	take := func(id string, o *outcome) {
		st := "pending"
		if o != nil {
			st = o.Status
		}
		if q.Status != "" && st != q.Status {
			return
		}
		if out.Total >= q.Offset && len(out.Items) < q.Limit {
			out.Items = append(out.Items, row(id, o))
		}
		out.Total++
	}
	for i := range n {
		var o *outcome
		if i < len(idx.items) {
			o = idx.items[i]
		}
		take(strconv.Itoa(i+1), o)
	}
	names := make([]string, 0, len(idx.named))
	for id := range idx.named {
		names = append(names, id)
	}
	slices.Sort(names)
	for _, id := range names {
		take(id, idx.named[id])
	}
	return out, nil
}

// BlockRecord is what a finished (item, block) left: its outputs and the
// events it published, from the block's checkpoint.
type BlockRecord struct {
	Block    string          `json:"block"`
	Finished time.Time       `json:"finished"`
	Outputs  json.RawMessage `json:"outputs,omitempty"`
	Events   map[string]int  `json:"events,omitempty"`
}

// ItemEvent is an event the item's blocks published, as stored.
type ItemEvent struct {
	Seq      uint64          `json:"seq"`
	Time     time.Time       `json:"time"`
	Envelope events.Envelope `json:"envelope"`
	Raw      json.RawMessage `json:"raw"`
}

// ItemDetail is everything kept about one item of a run.
type ItemDetail struct {
	Run    RunInfo       `json:"run"`
	Item   ItemRow       `json:"item"`
	Blocks []BlockRecord `json:"blocks"`
	Events []ItemEvent   `json:"events"`
}

// Item reads one item: its outcome, the checkpoints of the blocks given
// (the workflow's steps, in order) and the events they published, later
// ones (a signature completed days after) included.
func (r *Reader) Item(ctx context.Context, runID, itemID string, blocks []string) (ItemDetail, error) {
	rec, idx, err := r.runAndIndex(ctx, runID)
	if err != nil {
		return ItemDetail{}, err
	}
	d := ItemDetail{Run: rec, Item: ItemRow{ID: itemID, Status: "pending"}}
	idx.mu.Lock()
	o := idx.lookup(itemID)
	idx.mu.Unlock()
	if o != nil {
		d.Item = ItemRow{ID: o.Item, Origin: o.Origin, Status: o.Status, Block: o.Block, Error: o.Error, Events: o.Events}
	} else if n, err := strconv.Atoi(itemID); err != nil || n < 1 || int64(n) > rec.Enqueued {
		return ItemDetail{}, fmt.Errorf("run %s: item %s: %w", runID, itemID, ErrNotFound)
	}
	cps, err := itemCheckpoints(ctx, r.js, runID, itemID, blocks)
	if err != nil {
		return ItemDetail{}, fmt.Errorf("item %s: checkpoints: %w", itemID, err)
	}
	for _, b := range blocks {
		if cp, ok := cps[b]; ok {
			d.Blocks = append(d.Blocks, BlockRecord{Block: b, Finished: cp.at, Outputs: cp.Outputs, Events: cp.Events})
		}
	}
	d.Events, err = r.itemEvents(ctx, rec, idx, itemID, blocks)
	return d, err
}

// itemEvents finds the item's events by their ids, which are derived from
// (workflow, run, item, block, type): the run's index maps the ids of its
// workflow's events, published since the run began, to stream sequences.
func (r *Reader) itemEvents(ctx context.Context, rec RunInfo, idx *runIndex, itemID string, blocks []string) ([]ItemEvent, error) {
	stream, err := r.js.Stream(ctx, events.StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("events stream: %w", err)
	}
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if idx.eventSeq == nil {
		idx.eventSeq = map[string]uint64{}
	}
	cfg := jetstream.ConsumerConfig{FilterSubject: "paperflow.events." + rec.Workflow + ".*", HeadersOnly: true}
	if idx.eventsRead > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, idx.eventsRead+1
	} else {
		from := rec.Created.Add(-time.Minute)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &from
	}
	err = readStream(ctx, stream, cfg, stream.CachedInfo().State.LastSeq, func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		idx.eventsRead = md.Sequence.Stream
		if id := m.Headers().Get(jetstream.MsgIDHeader); id != "" {
			idx.eventSeq[id] = md.Sequence.Stream
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	var seqs []uint64
	for _, b := range blocks {
		for _, t := range events.Types {
			// A block's second event of one type has the id of "<block>#1".
			for n := 0; n < 8; n++ {
				id := b
				if n > 0 {
					id += "#" + strconv.Itoa(n)
				}
				seq, ok := idx.eventSeq[events.ID(rec.Workflow, rec.ID, itemID, id, t)]
				if !ok {
					break
				}
				seqs = append(seqs, seq)
			}
		}
	}
	out := make([]ItemEvent, 0, len(seqs))
	for _, seq := range seqs {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			if bus.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("read event %d: %w", seq, err)
		}
		ev := ItemEvent{Seq: seq, Time: m.Time, Raw: m.Data}
		_ = json.Unmarshal(m.Data, &ev.Envelope)
		out = append(out, ev)
	}
	slices.SortFunc(out, func(a, b ItemEvent) int { return a.Time.Compare(b.Time) })
	return out, nil
}
