package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Damage is data a stream lost: found when the store was opened.
type Damage struct {
	Stream string `json:"stream"`
	// Lost is how many messages are gone (at least this many when the
	// store was not closed cleanly before).
	Lost uint64 `json:"lost"`
	// AtLeast: Lost is a lower bound.
	AtLeast bool   `json:"at_least,omitempty"`
	Reason  string `json:"reason"`
}

// A damaged block file does not always make JetStream report lost
// messages: on recovery it may simply cut the stream short. So the
// embedded store keeps a record, next to the JetStream files, of each
// stream's sequences and message count, written when the store opens and
// again when it closes cleanly; the next start compares.

// streamMark is what paperflow last knew of one stream.
type streamMark struct {
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Msgs     uint64 `json:"msgs"`
	// Shrinks: the stream drops messages by itself (a work queue, or a
	// MaxAge), so fewer messages alone is no sign of damage.
	Shrinks bool `json:"shrinks,omitempty"`
}

type storeRecord struct {
	// Clean: written by a clean close, so nothing changed the streams
	// since.
	Clean   bool                  `json:"clean"`
	Streams map[string]streamMark `json:"streams"`
}

func recordPath(dataDir string) string {
	return filepath.Join(dataDir, "nats", "paperflow-streams.json")
}

// streamMarks reads the state of every stream, and JetStream's own
// reports of lost messages.
func streamMarks(ctx context.Context, js jetstream.JetStream) (map[string]streamMark, []Damage, error) {
	marks := map[string]streamMark{}
	var damage []Damage
	l := js.ListStreams(ctx)
	for info := range l.Info() {
		st := info.State
		marks[info.Config.Name] = streamMark{FirstSeq: st.FirstSeq, LastSeq: st.LastSeq, Msgs: st.Msgs,
			Shrinks: info.Config.MaxAge > 0 || info.Config.Retention != jetstream.LimitsPolicy}
		if st.Lost != nil && (len(st.Lost.Msgs) > 0 || st.Lost.Bytes > 0) {
			damage = append(damage, Damage{Stream: info.Config.Name, Lost: uint64(len(st.Lost.Msgs)),
				Reason: fmt.Sprintf("JetStream reports %d messages (%d bytes) lost", len(st.Lost.Msgs), st.Lost.Bytes)})
		}
	}
	if err := l.Err(); err != nil {
		return nil, nil, fmt.Errorf("list streams: %w", err)
	}
	return marks, damage, nil
}

// compareMarks finds streams that hold less than the record says they
// did.
func compareMarks(rec storeRecord, now map[string]streamMark) []Damage {
	var out []Damage
	names := make([]string, 0, len(rec.Streams))
	for name := range rec.Streams {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		was := rec.Streams[name]
		cur, ok := now[name]
		switch {
		case !ok && was.Msgs > 0:
			out = append(out, Damage{Stream: name, Lost: was.Msgs, AtLeast: !rec.Clean,
				Reason: fmt.Sprintf("the stream is gone; it held %d messages", was.Msgs)})
		case !ok:
		case cur.LastSeq < was.LastSeq:
			// Sequences never go back: the end of the stream is lost.
			lost := was.LastSeq - cur.LastSeq
			if rec.Clean && was.Msgs > cur.Msgs {
				lost = was.Msgs - cur.Msgs
			}
			out = append(out, Damage{Stream: name, Lost: lost, AtLeast: !rec.Clean,
				Reason: fmt.Sprintf("its last sequence went back from %d to %d", was.LastSeq, cur.LastSeq)})
		case rec.Clean && !was.Shrinks && cur.LastSeq == was.LastSeq && cur.Msgs < was.Msgs:
			out = append(out, Damage{Stream: name, Lost: was.Msgs - cur.Msgs,
				Reason: fmt.Sprintf("it held %d messages when paperflow last stopped and holds %d now", was.Msgs, cur.Msgs)})
		}
	}
	return out
}

// checkStore looks for lost data after the store opened and logs it,
// loudly, with what to do. dataDir is empty for an external NATS: then
// only what JetStream itself reports is checked.
func (b *Bus) checkStore(ctx context.Context, dataDir string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	now, damage, err := streamMarks(ctx, b.JS)
	if err != nil {
		return err
	}
	if dataDir != "" {
		rec, err := readRecord(dataDir)
		if err != nil {
			b.log.Warn("cannot read the record of the NATS store; lost messages may go unnoticed this time", "file", recordPath(dataDir), "err", err)
		}
		damage = append(damage, compareMarks(rec, now)...)
		b.record = rec
	}
	b.damage = damage
	for _, d := range damage {
		at := ""
		if d.AtLeast {
			at = "at least "
		}
		b.log.Error(fmt.Sprintf("NATS stream %s lost %s%d messages: %s. The store is damaged (a corrupt or missing file under the data directory). Stop paperflow and restore the last backup with `paperflow restore DIR --force`; take backups with `paperflow backup DIR`", d.Stream, at, d.Lost, d.Reason),
			"stream", d.Stream, "lost", d.Lost, "at_least", d.AtLeast)
	}
	if dataDir != "" {
		b.dataDir = dataDir
		return b.writeRecord(now, false)
	}
	return nil
}

// Damage lists the streams found to have lost data when the bus opened.
func (b *Bus) Damage() []Damage { return b.damage }

func readRecord(dataDir string) (storeRecord, error) {
	raw, err := os.ReadFile(recordPath(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return storeRecord{}, nil
	}
	if err != nil {
		return storeRecord{}, err
	}
	var rec storeRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return storeRecord{}, fmt.Errorf("%s: %w", recordPath(dataDir), err)
	}
	return rec, nil
}

// writeRecord saves the streams' state. A damaged stream keeps its old
// mark, so the loss is reported again at every start until the stream is
// restored (which forgets the damage).
func (b *Bus) writeRecord(now map[string]streamMark, clean bool) error {
	marks := map[string]streamMark{}
	for name, m := range now {
		marks[name] = m
	}
	for _, d := range b.damage {
		if old, ok := b.record.Streams[d.Stream]; ok {
			if cur, ok := now[d.Stream]; !ok || cur.LastSeq < old.LastSeq || (cur.LastSeq == old.LastSeq && cur.Msgs < old.Msgs) {
				marks[d.Stream] = old
			}
		}
	}
	raw, err := json.MarshalIndent(storeRecord{Clean: clean, Streams: marks}, "", "  ")
	if err != nil {
		return err
	}
	path := recordPath(b.dataDir)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("write the record of the NATS store: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write the record of the NATS store: %w", err)
	}
	return nil
}

// forget drops the damage reported for a stream, once it was restored.
func (b *Bus) forget(stream string) {
	kept := b.damage[:0]
	for _, d := range b.damage {
		if d.Stream != stream {
			kept = append(kept, d)
		}
	}
	b.damage = kept
}

// recordClose writes the clean record of the embedded store, through a
// connection of its own (the bus's is drained by now).
func (b *Bus) recordClose() {
	if b.dataDir == "" || b.server == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := func() error {
		nc, err := nats.Connect("", nats.InProcessServer(b.server), nats.Name("paperflow-store-record"))
		if err != nil {
			return err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		now, _, err := streamMarks(ctx, js)
		if err != nil {
			return err
		}
		return b.writeRecord(now, true)
	}()
	if err != nil {
		b.log.Warn("could not record the NATS store's state on close", "err", err)
	}
}
