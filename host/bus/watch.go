package bus

import (
	"context"
	"iter"

	"github.com/nats-io/nats.go/jetstream"
)

// Entries yields the updates of a KV watch until ctx ends or the watch
// breaks (NATS gone), so that a watcher's loop is a range over it. As on
// the watcher's channel, a nil entry marks the end of the values present
// when the watch began.
func Entries(ctx context.Context, w jetstream.KeyWatcher) iter.Seq[jetstream.KeyValueEntry] {
	return func(yield func(jetstream.KeyValueEntry) bool) {
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok || !yield(e) {
					return
				}
			}
		}
	}
}
