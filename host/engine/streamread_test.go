package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestReadStreamStopsWhereAsked: a read told to stop at the stream's last
// sequence at its start returns while a writer keeps publishing to the
// subject faster than the read goes, instead of chasing it.
func TestReadStreamStopsWhereAsked(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := testBus(t)
	stream, err := b.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "READ_TEST", Subjects: []string{"readtest.>"}, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, err := b.JS.Publish(ctx, "readtest.run", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stop := info.State.LastSeq

	wctx, stopWriting := context.WithCancel(ctx)
	var writer sync.WaitGroup
	writer.Go(func() {
		for wctx.Err() == nil {
			_, _ = b.JS.Publish(wctx, "readtest.run", []byte("y"))
		}
	})
	defer func() {
		stopWriting()
		writer.Wait()
	}()
	// The writer is ahead before the read begins, and the read goes slower
	// than it: a read to the end would never end.
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.LastSeq > stop+100 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var last uint64
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	defer rcancel()
	err = readStream(rctx, stream, jetstream.ConsumerConfig{FilterSubject: "readtest.run"}, stop, func(m jetstream.Msg) {
		if md, err := m.Metadata(); err == nil {
			last = md.Sequence.Stream
		}
		time.Sleep(time.Millisecond)
	})
	if err != nil {
		t.Fatalf("read while a writer keeps publishing: %v", err)
	}
	if last != stop {
		t.Errorf("read stopped at sequence %d, want %d", last, stop)
	}
}
