package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KeepInProgress tells NATS every interval that msgs are still being worked
// on, so their ack wait does not run out during long work. The returned stop
// returns only once no further signal can be sent: a batch handed back
// (Nak) after stop is never followed by an InProgress that would keep it.
func KeepInProgress(msgs []jetstream.Msg, every time.Duration) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, m := range msgs {
					_ = m.InProgress()
				}
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// WaitAcks waits for every asynchronous publish of futures to be stored,
// returning the first refusal or ctx's error.
func WaitAcks(ctx context.Context, futures []jetstream.PubAckFuture) error {
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
