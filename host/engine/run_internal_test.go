package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
)

// TestBatchesFillToBatchSizeItems: a worker's batches hold BatchSize
// items whether the queue holds the run's chunks or single items (split
// out of chunks to be tried again), never more than BatchSize unless one
// chunk is larger on its own; a message that would take a batch past it
// starts the next one; a message held back is not in any.
func TestBatchesFillToBatchSizeItems(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, st := testStore(t)
	// Messages are written as "c<n>" (a chunk of n items), "s" (a single
	// item) and "h" (a single item held back on its first delivery).
	for i, tt := range []struct {
		name      string
		batchSize int
		chunk     int
		queue     []string
		want      []int // items per batch
	}{
		{name: "whole chunks", batchSize: 8, chunk: 8, queue: []string{"c8", "c8", "c8"}, want: []int{8, 8, 8}},
		{name: "single items", batchSize: 8, chunk: 8, queue: slices.Repeat([]string{"s"}, 20), want: []int{8, 8, 4}},
		{name: "chunks of half a batch", batchSize: 8, chunk: 4, queue: []string{"c4", "c4", "c4", "s", "s"}, want: []int{8, 6}},
		{name: "a short chunk, then a whole one", batchSize: 8, chunk: 8, queue: []string{"c3", "c8", "s", "s"}, want: []int{3, 8, 2}},
		{name: "single items, then a chunk", batchSize: 8, chunk: 8, queue: []string{"s", "s", "s", "s", "s", "c8", "s"}, want: []int{5, 8, 1}},
		{name: "held items left out", batchSize: 8, chunk: 8, queue: []string{"h", "s", "h", "s", "h"}, want: []int{2}},
		{name: "a chunk larger than the batch", batchSize: 4, chunk: 8, queue: []string{"c8", "s", "s"}, want: []int{8, 2}},
		{name: "a run queued before chunks", batchSize: 4, queue: slices.Repeat([]string{"s"}, 6), want: []int{4, 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			runID := "r" + strconv.Itoa(i)
			subject := bus.ItemsSubject("wf", runID)
			cons, err := st.Items.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
				Durable: consumerName(runID), FilterSubject: subject, AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute,
			})
			if err != nil {
				t.Fatal(err)
			}
			next := 1
			for _, kind := range tt.queue {
				m, err := queueTestMsg(subject, runID, kind, &next)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := b.JS.PublishMsg(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			rs := &runState{e: &Engine{opts: Options{BatchSize: tt.batchSize, ItemTimeout: time.Minute}, log: slog.New(slog.DiscardHandler)}, runID: runID, chunk: tt.chunk}
			// A top-up waits longer than in a host: what is queued comes
			// even on a loaded machine.
			bt := &batcher{rs: rs, take: batchWindow, topUp: 300 * time.Millisecond}
			defer bt.close()
			var got []int
			for {
				batch, took, err := bt.next(ctx, cons)
				if err != nil {
					t.Fatal(err)
				}
				if took == 0 {
					break
				}
				n := 0
				for _, q := range batch {
					n += len(q.items())
					if err := q.msg.Ack(); err != nil {
						t.Fatal(err)
					}
				}
				if n > 0 {
					got = append(got, n)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("items per batch %v, want %v", got, tt.want)
			}
		})
	}
}

// queueTestMsg is a queue message of kind "c<n>", "s" or "h" (see
// TestBatchesFillToBatchSizeItems), its items numbered from *next on.
func queueTestMsg(subject, runID, kind string, next *int) (*nats.Msg, error) {
	item := func() itemMsg {
		it := itemMsg{ID: strconv.Itoa(*next), Fields: json.RawMessage(`{"Name":"ada"}`)}
		*next++
		return it
	}
	switch kind {
	case "s", "h":
		q := queueMsg{itemMsg: item()}
		if kind == "h" {
			q.HoldMS = time.Hour.Milliseconds()
		}
		m := nats.NewMsg(subject)
		raw, err := json.Marshal(q)
		m.Data = raw
		return m, err
	}
	var n int
	if _, err := fmt.Sscanf(kind, "c%d", &n); err != nil {
		return nil, fmt.Errorf("message kind %q: %w", kind, err)
	}
	items := make([]itemMsg, n)
	for i := range items {
		items[i] = item()
	}
	return chunkMsg(subject, runID, items, n)
}
