package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Some records are kept many to a KV entry, a line "<id>\t<value>\n" each
// (the engine's sent-mail records, the documents' origins): NATS keeps an
// index entry per key of a bucket in memory, so an entry per record made a
// host grow with every record. Appender writes such entries and FindLine
// reads them.

// appendTimeout bounds one shared write of an entry, conflicts and
// retries included.
const appendTimeout = 10 * time.Second

// Appender writes such entries. Concurrent appends to one entry share a
// write: a host appending a line per email or document makes one
// compare-and-set per entry and moment, not one each. The zero value is
// ready; a caller keeps one for all its appends.
type Appender struct {
	mu sync.Mutex
	// pending are the entries being written, by key.
	pending map[string]*appendBatch
}

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
// entry in between, it is read again and what it holds is kept.
//
// A call whose ctx has already ended adds nothing. Otherwise the writes
// are bounded by appendTimeout, not by the writing call's ctx: the lines
// of other calls ride on that write, and one caller giving up (its run
// interrupted) must not fail theirs.
func (a *Appender) Append(ctx context.Context, kv jetstream.KeyValue, key string, lines ...string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("append to %s: %w", key, err)
	}
	done := make(chan error, 1)
	a.mu.Lock()
	if a.pending == nil {
		a.pending = map[string]*appendBatch{}
	}
	b, busy := a.pending[key]
	if !busy {
		b = &appendBatch{}
		a.pending[key] = b
	}
	b.lines = append(b.lines, lines...)
	b.waiters = append(b.waiters, done)
	if busy {
		a.mu.Unlock()
		return <-done
	}
	for len(b.lines) > 0 {
		ls, waiters := b.lines, b.waiters
		b.lines, b.waiters = nil, nil
		a.mu.Unlock()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
		err := appendOnce(wctx, kv, key, ls)
		cancel()
		for _, w := range waiters {
			w <- err
		}
		a.mu.Lock()
	}
	delete(a.pending, key)
	a.mu.Unlock()
	return <-done
}

// Pending is the number of entries with a write in progress: none once
// every Append has returned.
func (a *Appender) Pending() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.pending)
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

// FindLine finds the line of id in an entry Appender wrote and returns its
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
