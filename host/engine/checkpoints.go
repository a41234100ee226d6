package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/internal/jsontext"
)

// Checkpoints are written once per (batch, block): one KV entry holds the
// checkpoints of every item of the batch that finished the block, under
// the key <run>.b.<batch>.<block>. A JetStream write costs the same for
// one item as for 64, so this is what keeps a step cheap.
//
// Earlier versions wrote one entry per (item, block) under
// <run>.<item>.<block>; both are read, so a run started before an upgrade
// resumes without redoing a block.
//
// The same bucket records the items a batch split out of their chunk to
// be tried again on their own (splitRecord), under <run>.s.<batch>.split:
// the chunk's redo reads them with its checkpoints, at no extra cost, and
// leaves those items to their own messages. Versions before it ignore
// these entries.

// checkpoint records a finished (item, block): its outputs and the events
// it published, so a redelivered item skips the block and still reports
// the same outputs and event counts.
type checkpoint struct {
	Outputs json.RawMessage `json:"outputs,omitempty"`
	Events  map[string]int  `json:"events,omitempty"`
	// at is when it was stored (read back only).
	at time.Time
}

// checkpointRecord is the value of one batch's checkpoint entry.
type checkpointRecord struct {
	Items map[string]*checkpoint `json:"items"`
	at    time.Time
}

// encodeCheckpoints is the JSON of the checkpointRecord of items ids, as
// encoding/json writes it but for the order of the items; written by hand
// as a batch's every item is in it. Each Outputs is valid JSON already.
func encodeCheckpoints(ids []string, cps []*checkpoint) ([]byte, error) {
	size := len(`{"items":{}}`)
	for i, id := range ids {
		size += len(id) + len(cps[i].Outputs) + len(`"":{"outputs":},`)
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"items":{`...)
	for i, id := range ids {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = jsontext.AppendString(buf, id)
		buf = append(buf, ":{"...)
		cp := cps[i]
		if len(cp.Outputs) > 0 {
			buf = append(buf, `"outputs":`...)
			buf = append(buf, cp.Outputs...)
		}
		if len(cp.Events) > 0 {
			raw, err := json.Marshal(cp.Events)
			if err != nil {
				return nil, err
			}
			if len(cp.Outputs) > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `"events":`...)
			buf = append(buf, raw...)
		}
		buf = append(buf, '}')
	}
	return append(buf, "}}"...), nil
}

// splitRecord is the value of a batch's split entry: the items of chunks
// that the batch queued again on their own, by item id.
type splitRecord struct {
	Split map[string]handoff `json:"split"`
}

// handoff is what an item split out of its chunk was queued again with,
// so that a redo of the chunk can queue the same message again.
type handoff struct {
	Tried  int   `json:"tried"`
	HoldMS int64 `json:"hold_ms,omitempty"`
}

func checkpointKey(run, item, block string) string { return run + "." + item + "." + block }

// batchCheckpointKey names a new entry for one batch's checkpoints of a
// block: a batch id of its own, since a batch redone after a crash holds
// other items than the first time.
func batchCheckpointKey(run, block string) string {
	return run + ".b." + nuid.Next() + "." + block
}

// splitKey names a new entry for the items one batch split out of their
// chunks.
func splitKey(run string) string {
	return run + ".s." + nuid.Next() + ".split"
}

// entryKind is what a checkpoint bucket entry of a run holds.
type entryKind int

const (
	unknownEntry entryKind = iota
	itemEntry              // an old per-item checkpoint
	batchEntry             // a batch's checkpoints of one block
	splitEntry             // a batch's items split out of their chunks
)

// parseCheckpointKey reads what an entry of the run holds, and its block
// (a checkpoint) and item (an old per-item checkpoint).
func parseCheckpointKey(runID, key string) (item, block string, kind entryKind) {
	rest, found := strings.CutPrefix(key, runID+".")
	if !found {
		return "", "", unknownEntry
	}
	parts := strings.Split(rest, ".")
	switch {
	case len(parts) == 3 && parts[0] == "b":
		return "", parts[2], batchEntry
	case len(parts) == 3 && parts[0] == "s":
		return "", "", splitEntry
	case len(parts) == 2:
		return parts[0], parts[1], itemEntry
	}
	return "", "", unknownEntry
}

// checkpointIndex maps (item, block) to the stream sequence of the entry
// that holds its checkpoint, and holds the items split out of their
// chunks. It is built only when needed (a redelivered item, a resumed
// run) and brought up to date from where it left off.
type checkpointIndex struct {
	last   uint64 // last stream sequence read
	seqs   map[string]uint64
	splits map[string]handoff // by item id
}

func indexKey(item, block string) string { return item + "\x00" + block }

// checkpointStream is the stream under the checkpoints bucket.
func checkpointStream(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, "KV_"+bus.CheckpointsBucket)
	if err != nil {
		return nil, fmt.Errorf("checkpoints stream: %w", err)
	}
	return s, nil
}

// refresh reads the run's checkpoint entries written since the last
// refresh. A read that fails leaves the index at the last entry it read,
// for the next refresh to go on from.
func (x *checkpointIndex) refresh(ctx context.Context, stream jetstream.Stream, runID string) error {
	if x.seqs == nil {
		x.seqs, x.splits = map[string]uint64{}, map[string]handoff{}
	}
	prefix := "$KV." + bus.CheckpointsBucket + "."
	cfg := jetstream.ConsumerConfig{FilterSubject: prefix + runID + ".>"}
	if x.last > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, x.last+1
	}
	err := readStream(ctx, stream, cfg, 0, func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		x.last = max(x.last, md.Sequence.Stream)
		x.add(runID, strings.TrimPrefix(m.Subject(), prefix), md.Sequence.Stream, m)
	})
	if err != nil {
		return fmt.Errorf("read checkpoints: %w", err)
	}
	return nil
}

// add indexes one entry read from the stream.
func (x *checkpointIndex) add(runID, key string, seq uint64, m jetstream.Msg) {
	item, block, kind := parseCheckpointKey(runID, key)
	if kind == unknownEntry {
		return
	}
	if op := m.Headers().Get("KV-Operation"); op == "DEL" || op == "PURGE" {
		if kind == itemEntry {
			delete(x.seqs, indexKey(item, block))
		}
		return
	}
	switch kind {
	case itemEntry:
		x.seqs[indexKey(item, block)] = seq
		return
	case splitEntry:
		var rec splitRecord
		if json.Unmarshal(m.Data(), &rec) != nil {
			return
		}
		maps.Copy(x.splits, rec.Split)
		return
	}
	var rec struct {
		Items map[string]json.RawMessage `json:"items"`
	}
	if json.Unmarshal(m.Data(), &rec) != nil {
		return
	}
	for it := range rec.Items {
		x.seqs[indexKey(it, block)] = seq
	}
}

// lookup reads the checkpoints of items × blocks from the entries the
// index points at; an entry compacted away reads as no checkpoint.
func (x *checkpointIndex) lookup(ctx context.Context, stream jetstream.Stream, runID string, itemIDs, blocks []string) (map[string]map[string]*checkpoint, error) {
	out := map[string]map[string]*checkpoint{}
	records := map[uint64]*checkpointRecord{}
	for _, it := range itemIDs {
		for _, b := range blocks {
			seq, ok := x.seqs[indexKey(it, b)]
			if !ok {
				continue
			}
			rec, ok := records[seq]
			if !ok {
				raw, err := stream.GetMsg(ctx, seq)
				if errors.Is(err, jetstream.ErrMsgNotFound) {
					records[seq] = nil
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("load checkpoint: %w", err)
				}
				rec, err = decodeCheckpointEntry(runID, raw.Subject, raw.Data)
				if err != nil {
					return nil, err
				}
				rec.at = raw.Time
				records[seq] = rec
			}
			if rec == nil || rec.Items[it] == nil {
				continue
			}
			rec.Items[it].at = rec.at
			if out[it] == nil {
				out[it] = map[string]*checkpoint{}
			}
			out[it][b] = rec.Items[it]
		}
	}
	return out, nil
}

// decodeCheckpointEntry reads either form of entry as a record.
func decodeCheckpointEntry(runID, subject string, data []byte) (*checkpointRecord, error) {
	key := strings.TrimPrefix(subject, "$KV."+bus.CheckpointsBucket+".")
	item, _, kind := parseCheckpointKey(runID, key)
	if kind == batchEntry {
		rec := &checkpointRecord{}
		if err := json.Unmarshal(data, rec); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", key, err)
		}
		return rec, nil
	}
	cp := &checkpoint{}
	if err := json.Unmarshal(data, cp); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", key, err)
	}
	return &checkpointRecord{Items: map[string]*checkpoint{item: cp}}, nil
}

// ItemCheckpoint reads the checkpoint of one (item, block) of a run: the
// outputs the block recorded, and whether it finished. It reads the run's
// checkpoint entries, so it is for inspection, not for a hot path.
func ItemCheckpoint(ctx context.Context, js jetstream.JetStream, runID, itemID, blockID string) (json.RawMessage, bool, error) {
	cps, err := itemCheckpoints(ctx, js, runID, itemID, []string{blockID})
	if err != nil {
		return nil, false, err
	}
	cp, ok := cps[blockID]
	if !ok {
		return nil, false, nil
	}
	return cp.Outputs, true, nil
}

// itemCheckpoints reads one item's checkpoints of the blocks given.
func itemCheckpoints(ctx context.Context, js jetstream.JetStream, runID, itemID string, blocks []string) (map[string]*checkpoint, error) {
	stream, err := checkpointStream(ctx, js)
	if err != nil {
		return nil, err
	}
	x := &checkpointIndex{}
	if err := x.refresh(ctx, stream, runID); err != nil {
		return nil, err
	}
	cps, err := x.lookup(ctx, stream, runID, []string{itemID}, blocks)
	if err != nil {
		return nil, err
	}
	return cps[itemID], nil
}
