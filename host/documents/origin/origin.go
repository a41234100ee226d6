// Package origin keeps which workflow, run, item and block made a
// document, so the host can say whose document was fetched when one of
// its links is used (DOCUMENT_DOWNLOADED). A block stores a document
// before the host knows which item it is for; the host learns that from
// the event that announces it, so the events publisher records the origin
// (Record) and the document store reads it (Lookup).
//
// Origins live in a bucket of their own (bus.DocumentOriginsBucket), one
// small entry per document, not in the document's object metadata:
// rewriting that metadata reads the object's info back and rolls its
// meta subject up, which has NATS load the 8 MB block the document was
// written to, and keep it in memory, for every document a run makes.
package origin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
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
// made. It writes one entry and reads nothing; RecordAll does many at once.
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

// RecordAll records every entry as Record does, publishing them all before
// it waits for NATS to store any, so a batch of events pays one round trip
// for its documents' origins instead of one each. failed is called with
// each entry NATS refused (an entry already recorded is not a failure: the
// first origin stays). It returns ErrNoBucket, recording nothing, on a bus
// without the bucket.
func (s *Store) RecordAll(ctx context.Context, entries []Entry, failed func(Entry, error)) error {
	if len(entries) == 0 {
		return nil
	}
	if _, err := s.bucket(ctx); err != nil {
		return err
	}
	futures := make([]jetstream.PubAckFuture, len(entries))
	for i, e := range entries {
		o := e.Origin
		o.BlockID = BlockOf(o.BlockID)
		raw, err := json.Marshal(o)
		if err != nil {
			failed(e, err)
			continue
		}
		msg := &nats.Msg{Subject: "$KV." + bus.DocumentOriginsBucket + "." + e.ID, Data: raw}
		// Expecting no message yet on the key's subject is what a KV
		// create is.
		f, err := s.js.PublishMsgAsync(msg, jetstream.WithExpectLastSequencePerSubject(0))
		if err != nil {
			failed(e, err)
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if !recordedBefore(err) {
				failed(entries[i], err)
			}
		case <-ctx.Done():
			failed(entries[i], ctx.Err())
		}
	}
	return nil
}

// recordedBefore reports NATS's answer to a create of a key that has a
// value: the wrong last sequence for its subject.
func recordedBefore(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
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
	e, err := kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Origin{}, false, nil
	}
	if err != nil {
		return Origin{}, false, fmt.Errorf("document %s: origin: %w", id, err)
	}
	if err := json.Unmarshal(e.Value(), &o); err != nil {
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
