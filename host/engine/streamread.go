package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// streamReadWait bounds each request of readStream: making its consumer,
// and each fetch.
const streamReadWait = 5 * time.Second

// readStream hands each message of stream that cfg selects to each, from
// where cfg starts to the last message stored (those stored meanwhile
// included), or, when stop is not 0, until it has handed one at stream
// sequence stop or past it: a reader of a subject still being written
// passes the stream's last sequence at its start, so as not to chase the
// writer for as long as it writes. It reads through an ephemeral pull consumer of its own, made
// and read in bounded waits, and deleted afterwards. A consumer that
// cannot be made or does not deliver (its NATS node died) is an error
// for the caller to try again with a new read, which makes a new
// consumer: an ordered consumer instead makes its next consumer under
// the same name and, when the name belongs to a node that died, tries
// for ever without heeding any context.
func readStream(ctx context.Context, stream jetstream.Stream, cfg jetstream.ConsumerConfig, stop uint64, each func(jetstream.Msg)) error {
	cfg.AckPolicy = jetstream.AckNonePolicy
	cfg.MemoryStorage, cfg.Replicas = true, 1
	cfg.InactiveThreshold = time.Minute
	cctx, cancel := context.WithTimeout(ctx, streamReadWait)
	cons, err := stream.CreateConsumer(cctx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("make a consumer: %w", err)
	}
	name := cons.CachedInfo().Name
	defer func() {
		go func() { // its node may be gone: nobody waits for this
			dctx, cancel := context.WithTimeout(context.Background(), streamReadWait)
			defer cancel()
			_ = stream.DeleteConsumer(dctx, name)
		}()
	}()
	pending := cons.CachedInfo().NumPending
	for pending > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		// As many as are pending: the fetch returns as soon as they came.
		batch, err := cons.Fetch(int(min(pending, 512)), jetstream.FetchMaxWait(streamReadWait))
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("message metadata: %w", err)
			}
			pending = md.NumPending
			each(m)
			if stop > 0 && md.Sequence.Stream >= stop {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("fetch: %w", err)
		}
		if n == 0 {
			// None came: either the rest is gone from the stream since the
			// read began, or the consumer does not answer.
			ictx, cancel := context.WithTimeout(ctx, streamReadWait)
			info, err := cons.Info(ictx)
			cancel()
			if err == nil && info.NumPending == 0 {
				return nil
			}
			return fmt.Errorf("consumer %s delivered none of its %d pending messages within %s", name, pending, streamReadWait)
		}
	}
	return nil
}
