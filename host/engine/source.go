package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk/retries"
)

// itemMsg is one item in the work queue.
type itemMsg struct {
	ID     string          `json:"id"`
	Origin string          `json:"origin,omitempty"`
	Fields json.RawMessage `json:"fields,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// queueMsg is one message of the work queue: a chunk of items the source's
// feed queued together (Items), or a single item (the fields of itemMsg):
// a trigger's, an operator's retry, one split out of a chunk to be tried
// again later, or one of a run queued before chunks.
type queueMsg struct {
	itemMsg
	Items []itemMsg `json:"items,omitempty"`
	// Tried is how many attempts a single item split out of a chunk had
	// before this message.
	Tried int `json:"tried,omitempty"`
	// HoldMS makes the first delivery of the message only hand it back for
	// that long: the delay before a split-out item's next attempt.
	HoldMS int64 `json:"hold_ms,omitempty"`
}

// maxChunkBytes bounds the items of one queue message, well under the
// NATS payload limit; an item larger than that is queued alone.
const maxChunkBytes = 256 << 10

// readSource reads the source into the work queue while this host holds
// the run's source lease. A host that does not hold it watches the lease
// and takes it over when its holder has gone silent for ItemTimeout, so a
// run whose reading host died still reads to the end.
func (rs *runState) readSource(ctx context.Context, tr *tracker, force bool) error {
	e := rs.e
	l := &lease{kv: e.opts.Store.HostKV, key: sourceLeaseKey(rs.runID), owner: e.hostID, ttl: e.opts.ItemTimeout}
	for {
		if _, done := tr.queued(); done {
			return nil
		}
		ok, err := l.acquire(ctx, force)
		force = false
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if ok {
			err := rs.feedHolding(ctx, l, tr)
			if err == nil || ctx.Err() != nil || !errors.Is(err, errLeaseLost) {
				return err
			}
			e.log.Warn("stopped reading the source; it goes to whichever host holds the lease", "run", rs.runID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(l.ttl / 4):
		}
	}
}

// feedHolding feeds while renewing the lease; it stops with errLeaseLost
// when the lease cannot be kept.
func (rs *runState) feedHolding(ctx context.Context, l *lease, tr *tracker) error {
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		t := time.NewTicker(l.ttl / 4)
		defer t.Stop()
		kept := time.Now()
		for {
			select {
			case <-fctx.Done():
				return
			case <-t.C:
			}
			err := l.renew(fctx)
			switch {
			case err == nil:
				kept = time.Now()
			case errors.Is(err, errLeaseLost) || time.Since(kept) > l.ttl*3/4:
				cancel(errLeaseLost)
				return
			}
		}
	}()
	rec, err := rs.e.loadRun(fctx, rs.runID)
	if err != nil {
		// NATS may be failing over: let the lease go and try again.
		rs.e.log.Warn("read the run record before reading the source", "run", rs.runID, "err", err)
		return errLeaseLost
	}
	if !rec.SourceDone {
		err = rs.feed(fctx, rec, tr)
	}
	if cause := context.Cause(fctx); errors.Is(cause, errLeaseLost) {
		return errLeaseLost
	}
	return err
}

// feed reads the source into the work queue from the first item not yet
// queued, rec.Chunk items (or maxChunkBytes) per message. Each batch of
// messages is acknowledged by NATS before the run record counts it, so a
// feed taken over by another host starts from a chunk boundary of the
// host before and cuts the same chunks, which Nats-Msg-Id absorbs: whole
// chunks by their length, and chunks cut short (for size, or by the end
// of the source) where the record says they end (recordCuts), even if
// the source now reads otherwise. Items short of a whole chunk wait for
// the next read of the source, or its end.
func (rs *runState) feed(ctx context.Context, rec *runRecord, tr *tracker) error {
	e := rs.e
	subject := bus.ItemsSubject(rs.wf.Name, rs.runID)
	c := cutter{chunk: max(rec.Chunk, 1), cuts: rec.Cuts}
	end := rec.SourceEnd // 0: not reached yet
	seq := rec.Enqueued  // items read
	var held []itemMsg   // read, not queued yet
	queue := func(final bool) error {
		first := seq - int64(len(held)) + 1
		chunks, rest := c.cut(held, first, final)
		if len(chunks) == 0 {
			return nil
		}
		msgs := make([]*nats.Msg, len(chunks))
		var short []int64 // the ends of chunks cut short
		last := first - 1
		for i, ch := range chunks {
			msg, err := chunkMsg(subject, rs.runID, ch, c.chunk)
			if err != nil {
				return err
			}
			msgs[i] = msg
			last += int64(len(ch))
			if len(ch) < c.chunk {
				short = append(short, last)
			}
		}
		if len(short) > 0 {
			sourceEnd := int64(0)
			if final {
				sourceEnd = seq
			}
			if err := rs.recordCuts(ctx, first-1, short, sourceEnd); err != nil {
				return err
			}
		}
		held = rest
		if err := e.publishAll(ctx, msgs, "queue items"); err != nil {
			return err
		}
		if e.chunksQueued != nil {
			e.chunksQueued(last, final)
		}
		if final {
			return nil // the end of the source is recorded next
		}
		if _, err := e.updateRun(ctx, rs.runID, func(r *runRecord) error {
			r.Enqueued = max(r.Enqueued, last)
			r.Cuts = mergeCuts(r.Cuts, nil, r.Enqueued)
			return nil
		}); err != nil {
			e.log.Warn("record source progress", "run", rs.runID, "err", err)
		}
		tr.setRead(last, false)
		return nil
	}
	var err error
	if end == 0 || seq < end {
		err = rs.source.Read(ctx, rs.runID, rec.Enqueued, func(items []*blockv1.Item) error {
			for _, it := range items {
				if end > 0 && seq >= end {
					break
				}
				seq++
				held = append(held, itemMsg{ID: strconv.FormatInt(seq, 10), Origin: it.Origin, Fields: it.Fields, Error: it.Error})
			}
			if err := queue(false); err != nil {
				return err
			}
			if end > 0 && seq >= end {
				return errEnough // the source ended here for this run
			}
			return nil
		})
		if errors.Is(err, errEnough) {
			err = nil
		}
	}
	if err == nil {
		err = queue(true)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &sourceError{fmt.Errorf("source %s (%s): %w", rs.wf.Source.ID, rs.wf.Source.Uses, err)}
	}
	if _, err := e.updateRun(ctx, rs.runID, func(r *runRecord) error {
		r.Enqueued, r.SourceDone, r.Cuts = max(r.Enqueued, seq), true, nil
		return nil
	}); err != nil {
		return fmt.Errorf("record the end of the source: %w", err)
	}
	tr.setRead(seq, true)
	return nil
}

// recordCuts records in the run, before chunks cut short are queued,
// where they end, and sourceEnd (unless 0) as the source's end; the
// chunks before them (up to queued) are acknowledged by NATS already. A
// host that takes the source over then cuts those chunks there again,
// whatever the source reads now. Whole chunks need no record: where one
// ends follows from where it starts. Chunks are cut short rarely (the
// end of the source, items large enough to pass maxChunkBytes), so this
// adds one update of the record per source batch that has some, and none
// to the others. Without the record no chunk is queued: the feed stops
// as when NATS does not take them.
func (rs *runState) recordCuts(ctx context.Context, queued int64, ends []int64, sourceEnd int64) error {
	return stallRetry.Do(ctx, func(ctx context.Context) error {
		_, err := rs.e.updateRun(ctx, rs.runID, func(r *runRecord) error {
			r.Enqueued = max(r.Enqueued, queued)
			r.Cuts = mergeCuts(r.Cuts, ends, r.Enqueued)
			if r.SourceEnd == 0 {
				r.SourceEnd = sourceEnd
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("record where chunks end: %w", err)
		}
		return nil
	})
}

// mergeCuts adds ends to cuts, in order, keeping only those past queued.
func mergeCuts(cuts, ends []int64, queued int64) []int64 {
	cuts = append(cuts, ends...)
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	return slices.DeleteFunc(cuts, func(c int64) bool { return c <= queued })
}

// cutter cuts the items a feed reads into chunks.
type cutter struct {
	chunk int
	// cuts are items that end a chunk, in order (runRecord.Cuts).
	cuts []int64
}

// cut cuts the whole chunks off the front of held, whose first item is
// number first: chunk items each, fewer where one more would pass
// maxChunkBytes of fields or where a recorded cut ends one. What is
// left, short of a whole chunk, is the rest, unless final. Where a chunk
// ends depends only on the items from its start and the cuts, never on
// how the source batched them.
func (c cutter) cut(held []itemMsg, first int64, final bool) (chunks [][]itemMsg, rest []itemMsg) {
	cuts := c.cuts
	for len(held) > 0 {
		for len(cuts) > 0 && cuts[0] < first {
			cuts = cuts[1:]
		}
		limit := c.chunk
		if len(cuts) > 0 && cuts[0]-first < int64(limit) {
			limit = int(cuts[0]-first) + 1
		}
		n, size := 0, 0
		for n < len(held) && n < limit && (n == 0 || size+len(held[n].Fields) <= maxChunkBytes) {
			size += len(held[n].Fields)
			n++
		}
		if n == len(held) && n < limit && !final {
			break // the chunk is not whole yet
		}
		chunks = append(chunks, held[:n:n])
		held = held[n:]
		first += int64(n)
	}
	return chunks, held
}

// chunkMsg is the queue message of items read in a row: the item alone in
// a run queued one item per message (chunk 1), as runs were before
// chunks; else a chunk (encodeChunk), whose id names its first and last
// item so that the same items queued again are absorbed, and other ones
// never are.
func chunkMsg(subject, runID string, items []itemMsg, chunk int) (*nats.Msg, error) {
	msg := nats.NewMsg(subject)
	if chunk == 1 {
		raw, err := json.Marshal(items[0])
		if err != nil {
			return nil, fmt.Errorf("queue items: %w", err)
		}
		msg.Data = raw
		msg.Header.Set(jetstream.MsgIDHeader, runID+"."+items[0].ID)
		return msg, nil
	}
	raw, err := encodeChunk(items)
	if err != nil {
		return nil, fmt.Errorf("queue items: %w", err)
	}
	msg.Data = raw
	msg.Header.Set(jetstream.MsgIDHeader, runID+"."+items[0].ID+"-"+items[len(items)-1].ID)
	return msg, nil
}

// chunkMark opens a chunk encoded by encodeChunk; a JSON queue message
// opens with '{'. Any other byte below 0x20 but JSON's whitespace opens a
// format of a later version (formatMark).
const chunkMark = 0x01

// errNewerFormat is a queue message in a format of a later version than
// this host's: a host that reads it may be working on the run too.
var errNewerFormat = errors.New("queue message in a format of a later version")

// formatMark reports whether a queue message opening with b is in a
// binary format (chunkMark, or one of a later version), not JSON.
func formatMark(b byte) bool {
	return b < 0x20 && b != '\t' && b != '\n' && b != '\r'
}

// encodeChunk writes a chunk of items as chunkMark, then each item's id,
// origin, error and fields, each as its length (uvarint) and its bytes.
// Every item of a run passes through it and decodeQueueMsg: the fields,
// JSON already, are checked once, not compacted, escaped and parsed
// again as in a JSON message. Fields that are not JSON are an error, as
// they were in a JSON message.
func encodeChunk(items []itemMsg) ([]byte, error) {
	size := 1
	for _, it := range items {
		if len(it.Fields) > 0 && !json.Valid(it.Fields) {
			return nil, fmt.Errorf("item %s: fields are not valid JSON", it.ID)
		}
		size += 4*binary.MaxVarintLen32 + len(it.ID) + len(it.Origin) + len(it.Error) + len(it.Fields)
	}
	buf := make([]byte, 1, size)
	buf[0] = chunkMark
	for _, it := range items {
		buf = appendPart(buf, it.ID)
		buf = appendPart(buf, it.Origin)
		buf = appendPart(buf, it.Error)
		buf = appendPart(buf, it.Fields)
	}
	return buf, nil
}

// appendPart appends b's length (uvarint) and b.
func appendPart[T string | json.RawMessage](buf []byte, b T) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

// decodeQueueMsg reads a queue message: a chunk encodeChunk wrote, or
// JSON (a single item, or a chunk of a run queued before chunks were
// encoded); errNewerFormat for a format it does not know. The items'
// fields share data's memory.
func decodeQueueMsg(data []byte) (queueMsg, error) {
	if len(data) > 0 && formatMark(data[0]) && data[0] != chunkMark {
		return queueMsg{}, fmt.Errorf("%w (format 0x%02x)", errNewerFormat, data[0])
	}
	if len(data) == 0 || data[0] != chunkMark {
		var q queueMsg
		err := json.Unmarshal(data, &q)
		return q, err
	}
	var q queueMsg
	rest := data[1:]
	next := func() ([]byte, error) {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, errors.New("truncated chunk")
		}
		b := rest[k : k+int(n) : k+int(n)]
		rest = rest[k+int(n):]
		return b, nil
	}
	for len(rest) > 0 {
		var parts [4][]byte
		for i := range parts {
			b, err := next()
			if err != nil {
				return queueMsg{}, err
			}
			parts[i] = b
		}
		it := itemMsg{ID: string(parts[0]), Origin: string(parts[1]), Error: string(parts[2])}
		if len(parts[3]) > 0 {
			it.Fields = json.RawMessage(parts[3])
		}
		q.Items = append(q.Items, it)
	}
	if len(q.Items) == 0 {
		return queueMsg{}, errors.New("empty chunk")
	}
	return q, nil
}

// sourceError is a source that cannot be read: the run fails, whichever
// host was reading it.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// publishAll publishes msgs and waits for every ack, publishing again
// (with backoff, for up to maxStall) while NATS is failing over; message
// ids make a repeat harmless.
func (e *Engine) publishAll(ctx context.Context, msgs []*nats.Msg, what string) error {
	return stallRetry.Do(ctx, func(ctx context.Context) error {
		futures := make([]jetstream.PubAckFuture, 0, len(msgs))
		for _, m := range msgs {
			f, err := e.opts.Bus.JS.PublishMsgAsync(m)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			futures = append(futures, f)
		}
		if err := bus.WaitAcks(ctx, futures); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			e.log.Warn("publish failed; trying again", "what", what, "err", err)
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

// maxStall is how long a host keeps trying while NATS does not answer
// (a node failing over) before it gives up on the run.
const maxStall = 2 * time.Minute

// stallRetry is how the engine tries NATS again while it does not answer:
// soon at first, then every 2s, for up to maxStall.
var stallRetry = retries.Policy{Initial: 50 * time.Millisecond, Multiplier: 2, Cap: 2 * time.Second, MaxElapsed: maxStall}
