package sdk

import (
	"context"
	"io"
)

// SourceBatchSize is how many items a source hands the host per emit:
// enough to amortise a round trip, small enough to stream.
const SourceBatchSize = 256

// Batcher helps a Source honour ReadRequest.Skip and emit in batches:
// call Take for every record read (it says whether to keep it), Add for
// the items kept, and Flush at the end.
type Batcher struct {
	ctx   context.Context
	skip  int64
	seen  int64
	emit  func([]Item) error
	batch []Item
}

// NewBatcher drops the first skip records and hands the rest to emit in
// batches of SourceBatchSize.
func NewBatcher(ctx context.Context, skip int64, emit func([]Item) error) *Batcher {
	return &Batcher{ctx: ctx, skip: skip, emit: emit, batch: make([]Item, 0, SourceBatchSize)}
}

// Take counts one record and says whether to keep it: false for the ones
// the request skips. While skipping it checks for cancellation now and then.
func (b *Batcher) Take() (bool, error) {
	b.seen++
	if b.seen > b.skip {
		return true, nil
	}
	if b.seen%SourceBatchSize == 0 {
		return false, b.ctx.Err()
	}
	return false, nil
}

// Add queues an item, emitting a full batch.
func (b *Batcher) Add(it Item) error {
	b.batch = append(b.batch, it)
	if len(b.batch) < SourceBatchSize {
		return nil
	}
	return b.Flush()
}

// Flush emits what is pending. The batch goes to emit and a new one is
// started, so emit may keep the slice.
func (b *Batcher) Flush() error {
	if err := b.ctx.Err(); err != nil {
		return err
	}
	if len(b.batch) == 0 {
		return nil
	}
	err := b.emit(b.batch)
	b.batch = make([]Item, 0, SourceBatchSize)
	return err
}

// ReadEach is the body of most sources' Read: it reads records with next
// until next returns io.EOF, makes the ones the request does not skip into
// items with item, and emits those in batches. Skipped records are still
// read, so that numbering, error records included, is the same on every
// attempt; only the items of kept ones are made. Errors from next, item
// and emit are returned as they are.
func ReadEach[R any](ctx context.Context, req ReadRequest, emit func([]Item) error, next func() (R, error), item func(R) (Item, error)) error {
	out := NewBatcher(ctx, req.Skip, emit)
	for {
		rec, err := next()
		if err == io.EOF {
			return out.Flush()
		}
		if err != nil {
			return err
		}
		keep, err := out.Take()
		if err != nil {
			return err
		}
		if !keep {
			continue
		}
		it, err := item(rec)
		if err != nil {
			return err
		}
		if err := out.Add(it); err != nil {
			return err
		}
	}
}
