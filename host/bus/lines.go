package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Some records are kept many to a KV entry, a line "<id>\t<value>\n" each
// (the engine's sent-mail records, the documents' origins): NATS keeps an
// index entry per key of a bucket in memory, so an entry per record made a
// host grow with every record. Appends writes such entries and FindLine
// reads them.

// Appends are the KV entries a caller is appending lines to, by key, each
// with the lines waiting for the write in progress. The zero value is
// ready. A caller keeps one for all its appends, guarded by a mutex of its
// own (see Append), so that concurrent appends to one entry share a write.
type Appends map[string]*appendBatch

// appendBatch is an entry being written: lines that arrive while a write
// is in progress go out together in the next one.
type appendBatch struct {
	lines   []string
	waiters []chan error
}

// Append adds lines, each "<id>\t<value>\n", to the entry under key in kv,
// creating it, and returns once NATS has stored them. A line whose id the
// entry already holds, or an earlier line of the same call holds, is left
// out: the first value kept for an id stays.
//
// Lines that concurrent calls add to one entry are written together, one
// rewrite of the entry for all of them, rather than one compare-and-set
// race per call: the first call writes, again while more lines came in
// meanwhile, and returns when its own lines are written; the others wait
// for the write that carries theirs, whatever their ctx, and return its
// error. Each write is a compare-and-set: when another host wrote the
// entry in between, it is read again and what it holds is kept. The
// writing call's ctx bounds the writes; when it ends during a conflict,
// its error is returned.
//
// mu guards a (it may guard more of the caller's state); Append holds it
// only between requests to NATS.
func (a *Appends) Append(ctx context.Context, mu sync.Locker, kv jetstream.KeyValue, key string, lines ...string) error {
	done := make(chan error, 1)
	mu.Lock()
	if *a == nil {
		*a = Appends{}
	}
	b, busy := (*a)[key]
	if !busy {
		b = &appendBatch{}
		(*a)[key] = b
	}
	b.lines = append(b.lines, lines...)
	b.waiters = append(b.waiters, done)
	if busy {
		mu.Unlock()
		return <-done
	}
	for len(b.lines) > 0 {
		ls, waiters := b.lines, b.waiters
		b.lines, b.waiters = nil, nil
		mu.Unlock()
		err := appendOnce(ctx, kv, key, ls)
		for _, w := range waiters {
			w <- err
		}
		mu.Lock()
	}
	delete(*a, key)
	mu.Unlock()
	return <-done
}

// appendOnce adds lines to an entry, those of ids it does not hold yet,
// by compare-and-set: when another host wrote the entry in between, it is
// read again.
func appendOnce(ctx context.Context, kv jetstream.KeyValue, key string, lines []string) error {
	for {
		var rec []byte
		var rev uint64
		ent, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("read %s: %w", key, err)
		default:
			rec, rev = ent.Value(), ent.Revision()
		}
		grown := bytes.Clone(rec)
		for _, l := range lines {
			id, _, _ := strings.Cut(l, "\t")
			if _, ok := FindLine(grown, id); !ok {
				grown = append(grown, l...)
			}
		}
		if len(grown) == len(rec) {
			return nil
		}
		if rev == 0 {
			_, err = kv.Create(ctx, key, grown)
		} else {
			_, err = kv.Update(ctx, key, grown, rev)
		}
		if err == nil {
			return nil
		}
		if !WriteConflict(err) {
			return fmt.Errorf("write %s: %w", key, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// FindLine finds the line of id in an entry Appends wrote and returns its
// value, what follows the tab.
func FindLine(rec []byte, id string) ([]byte, bool) {
	for len(rec) > 0 {
		line, rest, _ := bytes.Cut(rec, []byte{'\n'})
		rec = rest
		if k, v, ok := bytes.Cut(line, []byte{'\t'}); ok && string(k) == id {
			return v, true
		}
	}
	return nil, false
}

// WriteConflict reports whether err is NATS's answer to a create or
// compare-and-set of a KV entry someone else wrote first, which a writer
// answers by reading the entry again (or keeping what is there) rather
// than failing.
func WriteConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
