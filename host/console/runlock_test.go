package console

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/hosttest"
)

// clock is a time both hosts of a test read, moved on by the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestLeaseOfADeadHostRunsOut: a lease its holder stops renewing (the
// host died) is taken over once it runs out, and the old holder's late
// release leaves the new lease alone; a lease renewed lasts.
func TestLeaseOfADeadHostRunsOut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b := hosttest.StartBus(t, t.TempDir())
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	open := func(renew time.Duration) *RunLocks {
		l, err := OpenRunLocks(ctx, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.now, l.renew = clk.Now, renew
		return l
	}
	dead, alive := open(time.Hour), open(time.Hour) // neither renews in this part
	held, err := dead.Take(ctx, "run-1", "retry")
	if err != nil {
		t.Fatal(err)
	}
	var busy *BusyError
	if _, err := alive.Take(ctx, "run-1", "resume"); !errors.As(err, &busy) || busy.Action != "retry" {
		t.Fatalf("second take while the first holds: %v, want a BusyError naming the retry", err)
	}
	clk.Add(leaseTTL + time.Second)
	taken, err := alive.Take(ctx, "run-1", "resume")
	if err != nil {
		t.Fatalf("take after the lease ran out: %v", err)
	}
	held.Release() // late: it must not end the new holder's lease
	if _, err := dead.Take(ctx, "run-1", "retry"); !errors.As(err, &busy) || busy.Action != "resume" {
		t.Fatalf("take after the old holder's late release: %v, want a BusyError naming the resume", err)
	}
	taken.Release()
	again, err := dead.Take(ctx, "run-1", "retry")
	if err != nil {
		t.Fatalf("take after release: %v", err)
	}
	again.Release()

	// A holder that renews keeps its lease past leaseTTL.
	kv, err := b.JS.KeyValue(ctx, RunLocksBucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(ctx, "run.run-2", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	renewing := open(10 * time.Millisecond)
	ls, err := renewing.Take(ctx, "run-2", "retry")
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Release()
	// awaitPut waits for a put of the lease made at the clock's time or
	// later: the lease renews every 10 ms, so the watch also holds
	// renewals made before the clock last moved.
	awaitPut := func() {
		t.Helper()
		want := clk.Now().UTC().Add(leaseTTL)
		timeout := time.After(time.Minute)
		for {
			select {
			case e, ok := <-w.Updates():
				if !ok {
					t.Fatal("the watch ended")
				}
				if e == nil || e.Operation() != jetstream.KeyValuePut {
					continue
				}
				var rec leaseRecord
				if err := json.Unmarshal(e.Value(), &rec); err != nil {
					t.Fatalf("lease record %q: %v", e.Value(), err)
				}
				if !rec.Until.Before(want) {
					return
				}
			case <-timeout:
				t.Fatal("the lease was neither taken nor renewed from the clock's time within a minute")
			}
		}
	}
	awaitPut() // the take
	clk.Add(leaseTTL - time.Second)
	awaitPut() // a renewal, from the clock's new time
	clk.Add(leaseTTL - time.Second)
	if _, err := alive.Take(ctx, "run-2", "resume"); !errors.As(err, &busy) {
		t.Fatalf("take of a renewed lease %v after it was taken: %v, want a BusyError", 2*(leaseTTL-time.Second), err)
	}
}
