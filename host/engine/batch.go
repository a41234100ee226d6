package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/internal/jsontext"
	"github.com/paperflow/paperflow/host/metrics"
	"github.com/paperflow/paperflow/host/pluginhost"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// item is one queued item on its way through the steps of a batch.
type item struct {
	msg jetstream.Msg
	in  itemMsg
	// shared: msg holds other items too (a chunk), so the item cannot be
	// handed back alone; it is split out of it to be tried again.
	shared bool
	// split is what the item was split out of its chunk with before
	// (state handedOff): a message of its own carries it now.
	split handoff
	// delivered is how many times msg was delivered; tried, how many
	// attempts the item had before msg; held, msg's first delivery only
	// held it back (queueMsg.HoldMS).
	delivered uint64
	tried     int
	held      bool
	// outputs holds each finished block's outputs (JSON), by block id.
	outputs map[string]json.RawMessage
	fields  map[string]any // decoded on first use
	// done marks blocks finished in an earlier attempt (from checkpoints).
	done   map[string]*checkpoint
	events map[string]int
	state  itemState
	err    string
	block  string
}

type itemState int

const (
	pending itemState = iota
	failed
	retry
	// handedOff: split out of its chunk by an earlier pass of the chunk;
	// this pass leaves it alone.
	handedOff
)

// queued is a message of the work queue taken for a batch, read.
type queued struct {
	msg       jetstream.Msg
	q         queueMsg
	delivered uint64
}

// items are the items the message carries: a chunk's, or its one item.
func (q queued) items() []itemMsg {
	if len(q.q.Items) > 0 {
		return q.q.Items
	}
	return []itemMsg{q.q.itemMsg}
}

// admit reads a message taken from the queue for a batch. One the batch
// cannot work on is dealt with here and left out: one a later version
// queued is handed back, one that cannot be read is dropped, and the
// first delivery of one held back (queueMsg.HoldMS) is handed back for
// its delay.
func (rs *runState) admit(m jetstream.Msg) (queued, bool) {
	q, err := decodeQueueMsg(m.Data())
	if errors.Is(err, errNewerFormat) {
		// A host of a later version queued it: hand it back for one
		// that reads it, rather than drop it.
		rs.e.log.Warn("queued items in a format of a later version; handing them back", "run", rs.runID, "err", err)
		_ = m.NakWithDelay(rs.e.opts.ItemTimeout)
		return queued{}, false
	}
	if err != nil {
		// Not ours to read: drop it rather than loop on it.
		rs.e.log.Error("unreadable queued item; dropping", "run", rs.runID, "err", err)
		_ = m.Term()
		return queued{}, false
	}
	n := delivered(m)
	if q.HoldMS > 0 && n <= 1 {
		// Split out of a chunk to be tried again: not yet.
		_ = m.NakWithDelay(time.Duration(q.HoldMS) * time.Millisecond)
		return queued{}, false
	}
	return queued{msg: m, q: q, delivered: n}, true
}

// processBatch runs the items of a batch of queue messages through every
// step, then records outcomes and acknowledges (or schedules a retry of)
// each message.
func (rs *runState) processBatch(ctx context.Context, batch []queued) error {
	items := make([]*item, 0, len(batch))
	working := make([]jetstream.Msg, 0, len(batch))
	for _, b := range batch {
		ins := b.items()
		for _, in := range ins {
			it := &item{msg: b.msg, in: in, shared: len(ins) > 1, delivered: b.delivered, tried: b.q.Tried, held: b.q.HoldMS > 0,
				outputs: map[string]json.RawMessage{}, events: map[string]int{}}
			if it.in.Error != "" {
				it.fail(sourceLabel(rs.wf.Source.ID), it.in.Error)
			}
			items = append(items, it)
		}
		working = append(working, b.msg)
	}
	if len(items) == 0 {
		return nil
	}
	stopBeat := bus.KeepInProgress(working, rs.e.opts.ItemTimeout/4)
	defer stopBeat()
	if err := rs.loadCheckpoints(ctx, items); err != nil {
		return err
	}
	// A step's checkpoint is confirmed before the next step starts (a
	// crash then never redoes a block whose successor has begun); the
	// last step's is confirmed with the batch's outcomes.
	var stored jetstream.PubAckFuture
	for _, st := range rs.steps {
		if stored != nil && st.needs(items) {
			if err := bus.WaitAcks(ctx, []jetstream.PubAckFuture{stored}); err != nil {
				return fmt.Errorf("checkpoint: %w", err)
			}
			stored = nil
		}
		f, err := rs.runStep(ctx, st, items)
		if err != nil {
			return err
		}
		if f != nil {
			stored = f
		}
	}
	return rs.finish(ctx, items, stored)
}

// needs reports whether the step has work in the batch: an item still
// pending that has not finished it before.
func (st *stepBlock) needs(items []*item) bool {
	for _, it := range items {
		if _, done := it.done[st.def.ID]; it.state == pending && !done {
			return true
		}
	}
	return false
}

func sourceLabel(id string) string {
	if id == "" {
		return "source"
	}
	return id
}

// checkpointReadTimeout bounds reading a batch's checkpoints, waiting for
// another worker's read of them included: the batch fails then, and its
// items go back to the queue instead of being kept in progress.
const checkpointReadTimeout = 30 * time.Second

// ctxLock is a mutex whose lock gives up when a context ends; its zero
// value is unlocked.
type ctxLock struct {
	once sync.Once
	ch   chan struct{}
}

func (l *ctxLock) lock(ctx context.Context) error {
	l.once.Do(func() { l.ch = make(chan struct{}, 1) })
	select {
	case l.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *ctxLock) unlock() { <-l.ch }

// loadCheckpoints reads the checkpoints of items that may have been
// worked on before: redelivered ones, or all of them in a resumed run.
// An item of a chunk that an earlier pass of the chunk split out is
// marked handedOff: its own message carries it.
func (rs *runState) loadCheckpoints(ctx context.Context, items []*item) error {
	var ids []string
	for _, it := range items {
		if it.state != pending {
			continue
		}
		if !rs.resume && it.tried == 0 && it.delivered <= 1 {
			continue
		}
		ids = append(ids, it.in.ID)
	}
	if len(ids) == 0 {
		return nil
	}
	blocks := make([]string, len(rs.steps))
	for i, st := range rs.steps {
		blocks[i] = st.def.ID
	}
	ctx, cancel := context.WithTimeout(ctx, checkpointReadTimeout)
	defer cancel()
	if err := rs.cpLock.lock(ctx); err != nil {
		return fmt.Errorf("read checkpoints: wait for another worker's read: %w", err)
	}
	defer rs.cpLock.unlock()
	if rs.cpStream == nil {
		s, err := checkpointStream(ctx, rs.e.opts.Bus.JS)
		if err != nil {
			return err
		}
		rs.cpStream = s
	}
	if err := rs.cpIndex.refresh(ctx, rs.cpStream, rs.runID); err != nil {
		return err
	}
	found, err := rs.cpIndex.lookup(ctx, rs.cpStream, rs.runID, ids, blocks)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.state != pending {
			continue
		}
		if h, ok := rs.cpIndex.splits[it.in.ID]; ok && it.shared {
			it.state, it.split = handedOff, h
			continue
		}
		if cps, ok := found[it.in.ID]; ok {
			it.done = cps
		}
	}
	return nil
}

func (it *item) scope(rs *runState) (tags.Scope, error) {
	if it.fields == nil {
		it.fields = map[string]any{}
		if len(it.in.Fields) > 0 {
			dec := json.NewDecoder(bytes.NewReader(it.in.Fields))
			dec.UseNumber()
			if err := dec.Decode(&it.fields); err != nil {
				return tags.Scope{}, fmt.Errorf("item fields: %w", err)
			}
		}
	}
	blocks := make(map[string]any, len(it.outputs))
	for id, raw := range it.outputs {
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&v); err == nil {
			blocks[id] = v
		}
	}
	return tags.Scope{Fields: it.fields, Blocks: blocks, Secrets: rs.secrets.Lookup}, nil
}

// blocksJSON is the item's outputs so far as one JSON object by block id,
// its keys in the order encoding/json gives a map's. Written by hand: a
// step's every item needs it, and each output is valid JSON already
// (mergeOutputs, checkpoints).
func (it *item) blocksJSON() []byte {
	if len(it.outputs) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(it.outputs))
	size := 2
	for _, id := range ids {
		size += len(id) + len(it.outputs[id]) + 4
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '{')
	for i, id := range ids {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = jsontext.AppendString(buf, id)
		buf = append(buf, ':')
		buf = append(buf, it.outputs[id]...)
	}
	return append(buf, '}')
}

func (it *item) fail(block, msg string) {
	it.state, it.block, it.err = failed, block, msg
}

// runStep calls one step for every pending item of the batch; the future
// is the write of the step's checkpoints, nil when there are none.
func (rs *runState) runStep(ctx context.Context, st *stepBlock, items []*item) (jetstream.PubAckFuture, error) {
	def := st.def
	handled := tally{}
	defer handled.record(rs.wf.Name, def.ID)
	var todo []*item
	var wire []*blockv1.Item
	for _, it := range items {
		if it.state != pending {
			continue
		}
		if cp, ok := it.done[def.ID]; ok {
			if len(cp.Outputs) > 0 {
				it.outputs[def.ID] = cp.Outputs
			}
			for k, n := range cp.Events {
				it.events[k] += n
			}
			continue
		}
		w := &blockv1.Item{Id: it.in.ID, RunId: rs.runID, Origin: it.in.Origin, Fields: it.in.Fields, Blocks: it.blocksJSON()}
		if def.If != "" || !def.Static() {
			scope, err := it.scope(rs)
			if err != nil {
				handled.fail(it, def.ID, err.Error())
				continue
			}
			if def.If != "" {
				ok, err := def.Runs(scope)
				if err != nil {
					handled.fail(it, def.ID, fmt.Sprintf("block %s: if: %v", def.ID, err))
					continue
				}
				if !ok {
					it.outputs[def.ID] = json.RawMessage(`{"skipped":true}`)
					handled[metrics.Skipped]++
					continue
				}
			}
			if !def.Static() {
				cfg, err := def.ResolveWith(scope)
				if err != nil {
					handled.fail(it, def.ID, fmt.Sprintf("block %s: with: %v", def.ID, err))
					continue
				}
				w.Config = cfg
			}
		}
		todo = append(todo, it)
		wire = append(wire, w)
	}
	if len(todo) == 0 {
		return nil, nil
	}
	results, err := rs.call(ctx, st.block, wire)
	if err != nil {
		return nil, err
	}
	return rs.applyResults(ctx, st, todo, results, handled)
}

// tally counts how a step handled the items of a batch, by outcome, for
// paperflow_block_items_total: one label lookup per outcome and batch
// instead of one per item.
type tally map[string]int

// fail fails it at block and counts it failed.
func (t tally) fail(it *item, block, msg string) {
	it.fail(block, msg)
	t[metrics.Failed]++
}

func (t tally) record(workflow, block string) {
	for outcome, n := range t {
		metrics.BlockItemsHandled(workflow, block, outcome, n)
	}
}

// call runs Process; when the block rejects the whole batch (a panic, a
// bad response) the items are tried one by one so one bad item cannot
// fail the others.
func (rs *runState) call(ctx context.Context, b pluginhost.Caller, wire []*blockv1.Item) ([]*blockv1.ItemResult, error) {
	results, err := b.Process(ctx, wire)
	if err == nil {
		return results, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	ce, ok := err.(*pluginhost.CallError)
	if !ok {
		return nil, err
	}
	if ce.Retryable || len(wire) == 1 {
		out := make([]*blockv1.ItemResult, len(wire))
		for i, w := range wire {
			out[i] = &blockv1.ItemResult{ItemId: w.Id, Error: ce.Error(), Retryable: ce.Retryable}
		}
		return out, nil
	}
	out := make([]*blockv1.ItemResult, 0, len(wire))
	for _, w := range wire {
		r, err := rs.call(ctx, b, []*blockv1.Item{w})
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	return out, nil
}

// applyResults validates and publishes the events of successful items,
// then writes their checkpoints as one entry. The events are confirmed
// first, so a stored checkpoint never stands for an event that was lost.
func (rs *runState) applyResults(ctx context.Context, st *stepBlock, todo []*item, results []*blockv1.ItemResult, handled tally) (jetstream.PubAckFuture, error) {
	def := st.def
	var checked []events.Checked
	var ids []string
	var cps []*checkpoint
	for i, r := range results {
		it := todo[i]
		if r.Error != "" {
			if r.Retryable {
				it.state, it.block, it.err = retry, def.ID, r.Error
				handled[metrics.Retry]++
			} else {
				handled.fail(it, def.ID, r.Error)
			}
			continue
		}
		outputs, err := mergeOutputs(r)
		if err != nil {
			handled.fail(it, def.ID, err.Error())
			continue
		}
		evs, counts, err := rs.buildEvents(def.ID, it.in.ID, r.Events)
		if err != nil {
			handled.fail(it, def.ID, err.Error())
			continue
		}
		if r.Skipped {
			handled[metrics.Skipped]++
		} else {
			handled[metrics.Succeeded]++
		}
		checked = append(checked, evs...)
		it.outputs[def.ID] = outputs
		for k, n := range counts {
			it.events[k] += n
		}
		ids = append(ids, it.in.ID)
		cps = append(cps, &checkpoint{Outputs: outputs, Events: counts})
	}
	if len(checked) > 0 {
		for i, err := range rs.e.publisher.PublishChecked(ctx, checked) {
			if err != nil {
				return nil, fmt.Errorf("block %s: publish event %d of batch: %w", def.ID, i, err)
			}
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	raw, err := encodeCheckpoints(ids, cps)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	f, err := rs.e.opts.Bus.JS.PublishAsync("$KV."+bus.CheckpointsBucket+"."+batchCheckpointKey(rs.runID, def.ID), raw)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return f, nil
}

// mergeOutputs joins a result's outputs and documents into the object
// later blocks see as blocks.<id>.
func mergeOutputs(r *blockv1.ItemResult) (json.RawMessage, error) {
	if len(r.Documents) == 0 && !r.Skipped {
		if len(r.Outputs) == 0 {
			return json.RawMessage(`{}`), nil
		}
		if !json.Valid(r.Outputs) {
			return nil, errors.New("block outputs are not valid JSON")
		}
		return r.Outputs, nil
	}
	out := map[string]any{}
	if len(r.Outputs) > 0 {
		if err := json.Unmarshal(r.Outputs, &out); err != nil {
			return nil, fmt.Errorf("block outputs are not a JSON object: %w", err)
		}
	}
	if r.Skipped {
		out["skipped"] = true
	}
	if len(r.Documents) > 0 {
		docs := make([]map[string]any, len(r.Documents))
		for i, d := range r.Documents {
			docs[i] = map[string]any{"id": d.Id, "name": d.Name, "mimetype": d.Mimetype, "url": d.Url}
		}
		out["documents"] = docs
	}
	return json.Marshal(out)
}

// buildEvents wraps a step's events in envelopes and validates them all;
// one invalid event fails the item and none of its events is published.
func (rs *runState) buildEvents(blockID, itemID string, evs []*blockv1.EventData) ([]events.Checked, map[string]int, error) {
	if len(evs) == 0 {
		return nil, nil, nil
	}
	out := make([]events.Checked, 0, len(evs))
	counts := map[string]int{}
	now := time.Now().UTC()
	for _, ev := range evs {
		t, err := events.ParseType(ev.Type)
		if err != nil {
			return nil, nil, fmt.Errorf("block %s: %w", blockID, err)
		}
		idBlock := blockID
		if n := counts[ev.Type]; n > 0 {
			idBlock = blockID + "#" + strconv.Itoa(n)
		}
		meta := events.Metadata{Workflow: rs.wf.Name, RunID: rs.runID, ItemID: itemID, BlockID: idBlock, CreatedAt: now, Key: ev.Key}
		_, raw, err := events.New(meta, t, json.RawMessage(ev.Data))
		if err != nil {
			return nil, nil, fmt.Errorf("block %s: %s event: %w", blockID, ev.Type, err)
		}
		c, err := rs.e.validator.Check(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("block %s: %s event is not valid, not published: %w", blockID, ev.Type, err)
		}
		out = append(out, c)
		counts[ev.Type]++
	}
	return out, counts, nil
}

// finish records outcomes of finished items, then acknowledges their
// messages; items to retry are handed back to the queue with a growing
// delay: their message, or a message of their own when theirs holds other
// items. The last step's checkpoints (stored), the outcomes and the
// messages of items split out are confirmed before any message is
// acknowledged or handed back.
//
// An item split out is recorded as such (a split entry, confirmed with
// stored) before its message is queued: if its chunk comes back (the
// outcomes' write failed, the host died), the chunk's redo leaves the
// item to that message instead of working on it at the same time, and
// queues the message again in case it was lost; its id makes that
// harmless. A batch without retries writes no such entry.
func (rs *runState) finish(ctx context.Context, items []*item, stored jetstream.PubAckFuture) error {
	e := rs.e
	var acks []jetstream.Msg
	acked := map[jetstream.Msg]bool{}
	ack := func(m jetstream.Msg) {
		if !acked[m] {
			acked[m] = true
			acks = append(acks, m)
		}
	}
	type later struct {
		msg   jetstream.Msg
		delay time.Duration
	}
	var retries []later
	var splits []*nats.Msg
	var handed map[string]handoff // split out by this batch
	var outcomes []outcome
	for _, it := range items {
		if it.state == handedOff {
			e.log.Debug("item split out of its chunk before; left to its own message", "run", rs.runID, "item", it.in.ID)
			m, err := splitMsg(it, rs.runID, it.split)
			if err != nil {
				return err
			}
			splits = append(splits, m)
			ack(it.msg)
			continue
		}
		if it.state == retry {
			attempt := it.attempt()
			if delay, ok := e.opts.itemRetry().Delay(attempt); ok {
				e.log.Warn("item will be retried", "run", rs.runID, "item", it.in.ID, "block", it.block, "attempt", attempt, "in", delay, "err", rs.redact.Replace(it.err))
				if !it.shared {
					retries = append(retries, later{it.msg, delay})
					continue
				}
				h := handoff{Tried: attempt, HoldMS: delay.Milliseconds()}
				m, err := splitMsg(it, rs.runID, h)
				if err != nil {
					return err
				}
				if handed == nil {
					handed = map[string]handoff{}
				}
				handed[it.in.ID] = h
				splits = append(splits, m)
				ack(it.msg)
				continue
			}
			it.fail(it.block, fmt.Sprintf("%s (gave up after %d attempts)", it.err, attempt))
		}
		o := outcome{Item: it.in.ID, Origin: it.in.Origin, Status: "succeeded", Events: it.events}
		if it.state == failed {
			// A block's error text may quote its resolved configuration.
			it.err = rs.redact.Replace(it.err)
			o.Status, o.Block, o.Error = "failed", it.block, it.err
			e.log.Warn("item failed", "run", rs.runID, "item", it.in.ID, "origin", it.in.Origin, "block", it.block, "err", it.err)
		}
		outcomes = append(outcomes, o)
		ack(it.msg)
	}
	// The run may end (and cancel ctx) as soon as the outcomes are
	// stored; the items are still acknowledged then, so none stays in the
	// queue.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var written []jetstream.PubAckFuture
	if stored != nil {
		written = append(written, stored)
	}
	if len(handed) > 0 {
		raw, err := json.Marshal(splitRecord{Split: handed})
		if err != nil {
			return fmt.Errorf("record items split out: %w", err)
		}
		f, err := e.opts.Bus.JS.PublishAsync("$KV."+bus.CheckpointsBucket+"."+splitKey(rs.runID), raw)
		if err != nil {
			return fmt.Errorf("record items split out: %w", err)
		}
		written = append(written, f)
	}
	if len(written) > 0 {
		if err := bus.WaitAcks(wctx, written); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	// Items split out are queued again before their chunk is acknowledged;
	// their message ids absorb a second split of a chunk redone.
	if len(splits) > 0 {
		if err := e.publishAll(wctx, splits, "queue items to retry"); err != nil {
			return err
		}
	}
	// One message records the whole batch's outcomes: fewer round trips,
	// and a batch redone after a crash is counted once because followers
	// count outcomes by item id.
	if len(outcomes) > 0 {
		raw, _ := json.Marshal(outcomes)
		f, err := e.opts.Bus.JS.PublishAsync(bus.OutcomesSubject(rs.runID), raw)
		if err != nil {
			return fmt.Errorf("record outcomes: %w", err)
		}
		// Counted once sent, not once acked: the run may end (and cancel
		// ctx) as soon as the record is stored, before its ack is read.
		failed := 0
		for _, o := range outcomes {
			if o.Status == metrics.Failed {
				failed++
			}
		}
		metrics.ItemsDone(rs.wf.Name, metrics.Succeeded, len(outcomes)-failed)
		metrics.ItemsDone(rs.wf.Name, metrics.Failed, failed)
		if err := bus.WaitAcks(wctx, []jetstream.PubAckFuture{f}); err != nil {
			return fmt.Errorf("record outcomes: %w", err)
		}
	}
	for _, r := range retries {
		_ = r.msg.NakWithDelay(r.delay)
	}
	for _, m := range acks {
		if err := m.Ack(); err != nil {
			return fmt.Errorf("ack item: %w", err)
		}
	}
	return nil
}

// delivered is how many times m was delivered (1 when unknown).
func delivered(m jetstream.Msg) uint64 {
	if md, err := m.Metadata(); err == nil {
		return md.NumDelivered
	}
	return 1
}

// attempt is the item's attempt in this batch: the deliveries of its
// message, but for one that only held it back, after those before it.
func (it *item) attempt() int {
	n := int(it.delivered)
	if it.held {
		n--
	}
	return it.tried + n
}

// splitMsg is the message of an item split out of its chunk to be tried
// again after h.HoldMS, its attempts so far (h.Tried) carried along. Its
// id is the item's: a chunk redone after a crash queues it again, and
// NATS absorbs the second one.
func splitMsg(it *item, runID string, h handoff) (*nats.Msg, error) {
	raw, err := json.Marshal(queueMsg{itemMsg: it.in, Tried: h.Tried, HoldMS: h.HoldMS})
	if err != nil {
		return nil, fmt.Errorf("queue item %s to retry: %w", it.in.ID, err)
	}
	m := nats.NewMsg(it.msg.Subject())
	m.Data = raw
	m.Header.Set(jetstream.MsgIDHeader, runID+"."+it.in.ID+".retry")
	return m, nil
}
