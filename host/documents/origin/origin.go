// Package origin keeps which workflow, run, item and block made a
// document, so the host can say whose document was fetched when one of
// its links is used (DOCUMENT_DOWNLOADED). A block stores a document
// before the host knows which item it is for; the host learns that from
// the event that announces it, so the events publisher records the origin
// (Record) and the document store reads it (Lookup).
//
// Origins live in a bucket of their own (bus.DocumentOriginsBucket), not
// in the document's object metadata: rewriting that metadata reads the
// object's info back and rolls its meta subject up, which has NATS load
// the 8 MB block the document was written to, and keep it in memory, for
// every document a run makes.
//
// Documents made one after another get ids that share their first
// GroupPrefix hex digits (IDs), and the origins of such a group share one
// entry, g.<prefix>, a line "<rest of the id>\t<origin as JSON>" per
// document: NATS keeps an index entry per key in memory, so an entry per
// document made the host grow with every document a run made. Origins
// earlier versions recorded, one entry per document under its id, are
// still read.
package origin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
)

// Origin is where a document was made.
type Origin struct {
	Workflow string `json:"workflow"`
	RunID    string `json:"run_id"`
	ItemID   string `json:"item_id"`
	BlockID  string `json:"block_id"`
}

// complete reports whether every field is set, as a recorded origin's are.
func (o Origin) complete() bool {
	return o.Workflow != "" && o.RunID != "" && o.ItemID != "" && o.BlockID != ""
}

// Store reads and writes origins in bus.DocumentOriginsBucket, which it
// looks up on first use (again on the next use while there is none, as on
// a bus that keeps only events). A Store is safe for concurrent use.
type Store struct {
	js jetstream.JetStream

	mu sync.Mutex
	kv jetstream.KeyValue
	// writes are the group entries being written, with the lines
	// waiting for the write in progress.
	writes bus.Appender
}

// NewStore returns a Store of the origins bucket reached through js.
func NewStore(js jetstream.JetStream) *Store { return &Store{js: js} }

// ErrNoBucket is returned when the bus has no origins bucket.
var ErrNoBucket = errors.New("no bucket " + bus.DocumentOriginsBucket)

func (s *Store) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kv != nil {
		return s.kv, nil
	}
	kv, err := s.js.KeyValue(ctx, bus.DocumentOriginsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, ErrNoBucket
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", bus.DocumentOriginsBucket, err)
	}
	s.kv = kv
	return kv, nil
}

// Record keeps o as the origin of document id, its block id cut to the
// block (BlockOf). The first origin recorded stays: a document announced
// again (a retried item publishes its events again) keeps where it was
// made. RecordAll does many at once.
func (s *Store) Record(ctx context.Context, id string, o Origin) error {
	var refused error
	if err := s.RecordAll(ctx, []Entry{{ID: id, Origin: o}}, func(_ Entry, err error) { refused = err }); err != nil {
		return fmt.Errorf("document %s: record origin: %w", id, err)
	}
	if refused != nil {
		return fmt.Errorf("document %s: record origin: %w", id, refused)
	}
	return nil
}

// Entry is the origin of one document, as RecordAll takes them.
type Entry struct {
	ID     string
	Origin Origin
}

// RecordAll records every entry as Record does: the origins of one group
// of documents (IDs) in one write of its entry, the groups at once, so a
// batch of events pays a round trip or two for its documents' origins
// instead of one each. failed is called with each entry NATS refused (an
// entry already recorded is not a failure: the first origin stays). It
// returns ErrNoBucket, recording nothing, on a bus without the bucket.
func (s *Store) RecordAll(ctx context.Context, entries []Entry, failed func(Entry, error)) error {
	if len(entries) == 0 {
		return nil
	}
	kv, err := s.bucket(ctx)
	if err != nil {
		return err
	}
	groups := map[string][]int{} // entry key → entries
	own := map[string]bool{}     // keys of entries of one document
	var order []string
	lines := make([]string, len(entries))
	for i, e := range entries {
		o := e.Origin
		o.BlockID = BlockOf(o.BlockID)
		raw, err := json.Marshal(o)
		if err != nil {
			failed(e, err)
			continue
		}
		key, rest := groupOf(e.ID)
		if rest == "" {
			lines[i], own[key] = string(raw), true
		} else {
			lines[i] = rest + "\t" + string(raw) + "\n"
		}
		if groups[key] == nil {
			order = append(order, key)
		}
		groups[key] = append(groups[key], i)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // failed is called from one goroutine at a time
	for _, key := range order {
		wg.Go(func() {
			idx := groups[key]
			ls := make([]string, len(idx))
			for n, i := range idx {
				ls[n] = lines[i]
			}
			var err error
			if own[key] {
				err = createOwn(ctx, kv, key, ls[0])
			} else {
				err = s.appendLines(ctx, kv, key, ls)
			}
			if err != nil {
				mu.Lock()
				defer mu.Unlock()
				for _, i := range idx {
					failed(entries[i], err)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// createOwn records the origin of a document whose id is of no group, in
// an entry of its own; one recorded before stays.
func createOwn(ctx context.Context, kv jetstream.KeyValue, id, raw string) error {
	if _, err := kv.Create(ctx, id, []byte(raw)); err != nil && !bus.WriteConflict(err) {
		return err
	}
	return nil
}

// GroupPrefix is how many leading hex digits the ids of one group of
// documents share.
const GroupPrefix = 8

// groupSize is how many documents made one after another share a group:
// few enough that rewriting its entry as they are announced stays cheap,
// many enough that the bucket holds one key where it held as many.
const groupSize = 32

// groupOf is the key of the entry that holds a document's origin, and
// what of the id its line is known by. An id that is not 32 hex digits
// (none a Store makes) has an entry of its own.
func groupOf(id string) (key, rest string) {
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return id, ""
	}
	return "g." + id[:GroupPrefix], id[GroupPrefix:]
}

// IDs makes document ids: 128 random bits, written as 32 hex digits, of
// which the first GroupPrefix are shared by groupSize ids in a row, so
// that the origins of documents made together share an entry. IDs is
// safe for concurrent use; its zero value is ready.
type IDs struct {
	mu     sync.Mutex
	prefix string
	left   int
}

// Next returns a new id.
func (g *IDs) Next() (string, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(raw[:])
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.left == 0 {
		g.prefix, g.left = id[:GroupPrefix], groupSize
	}
	g.left--
	return g.prefix + id[GroupPrefix:], nil
}

// appendLines adds lines to a group's entry and returns once NATS has
// stored them. Lines of one group from concurrent calls are written
// together, one rewrite of the entry for all of them (bus.Appender).
func (s *Store) appendLines(ctx context.Context, kv jetstream.KeyValue, key string, lines []string) error {
	return s.writes.Append(ctx, kv, key, lines...)
}

// Lookup reads the origin recorded for document id; ok is false when none
// is (an uploaded file, a document no event has announced yet, a bus
// without the bucket).
func (s *Store) Lookup(ctx context.Context, id string) (o Origin, ok bool, err error) {
	kv, err := s.bucket(ctx)
	if errors.Is(err, ErrNoBucket) {
		return Origin{}, false, nil
	}
	if err != nil {
		return Origin{}, false, fmt.Errorf("document %s: origin: %w", id, err)
	}
	var raw []byte
	if key, rest := groupOf(id); rest != "" {
		e, err := kv.Get(ctx, key)
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return Origin{}, false, fmt.Errorf("document %s: origin: %w", id, err)
		}
		if err == nil {
			raw, _ = bus.FindLine(e.Value(), rest)
		}
	}
	if raw == nil {
		// Recorded on its own (by an earlier version, or an id of another
		// form).
		e, err := kv.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return Origin{}, false, nil
		}
		if err != nil {
			return Origin{}, false, fmt.Errorf("document %s: origin: %w", id, err)
		}
		raw = e.Value()
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return Origin{}, false, fmt.Errorf("document %s: origin: %w", id, err)
	}
	return o, o.complete(), nil
}

// BlockOf is the block id in an event's metadata.block_id, which is
// "<block>#<n>" for a block's second and later events of one type.
func BlockOf(eventBlockID string) string {
	id, _, _ := strings.Cut(eventBlockID, "#")
	return id
}
