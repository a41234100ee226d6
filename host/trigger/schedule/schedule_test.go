package schedule

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/workflow"
)

// fakeClock is moved by the test; After channels fire when it passes
// their time, and every After is announced on waiting.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []fakeTimer
	waiting chan struct{}
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	c.mu.Unlock()
	c.waiting <- struct{}{}
	return ch
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
		} else {
			keep = append(keep, t)
		}
	}
	c.timers = keep
}

func loadWorkflow(t *testing.T, src string) *workflow.Workflow {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "items.csv"), []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "wf.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	wf, problems := workflow.Load(file, csvCatalog{})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	return wf
}

type csvCatalog struct{}

func (csvCatalog) Lookup(uses string) (workflow.BlockSpec, bool) {
	return workflow.BlockSpec{Kind: workflow.KindSource}, uses == "csv"
}
func (csvCatalog) Names() []string { return []string{"csv"} }

// hosts starts n schedulers on one NATS and returns the run ids they
// start, as they start them.
func hosts(t *testing.T, n int, wf *workflow.Workflow, clock Clock) chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := bus.Open(ctx, bus.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := Open(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	runs := make(chan string, 100)
	var wg sync.WaitGroup
	for range n {
		s := &Scheduler{KV: kv, Clock: clock, Run: func(_ context.Context, _ *workflow.Workflow, runID string) error {
			runs <- runID
			return nil
		}}
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Serve(ctx, wf) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait(); b.Close() })
	return runs
}

// Every minute on three hosts for five minutes: five runs, not fifteen.
func TestScheduleFiresOncePerClusterWithAClock(t *testing.T) {
	wf := loadWorkflow(t, "name: nightly\nsource: {uses: csv, with: {path: items.csv}}\non: {schedule: {cron: \"* * * * *\", timezone: Europe/Berlin}}\n")
	clock := &fakeClock{now: time.Date(2026, 3, 6, 12, 0, 30, 0, time.UTC), waiting: make(chan struct{}, 100)}
	runs := hosts(t, 3, wf, clock)
	for range 5 {
		for range 3 {
			<-clock.waiting // every host waits for the next minute
		}
		clock.advance(time.Minute)
	}
	for range 3 {
		<-clock.waiting // every host has decided the last firing
	}
	seen := map[string]bool{}
	for range 5 {
		id := <-runs
		if seen[id] {
			t.Fatalf("run %s started twice", id)
		}
		seen[id] = true
	}
	select {
	case id := <-runs:
		t.Fatalf("a sixth run %s", id)
	default:
	}
	for _, want := range []string{"nightly-schedule-20260306T120100Z", "nightly-schedule-20260306T120500Z"} {
		if !seen[want] {
			t.Errorf("no run %s among %v", want, seen)
		}
	}
}

// A schedule every second on three schedulers sharing one NATS fires each
// second once.
func TestScheduleEverySecondOnThreeHosts(t *testing.T) {
	wf := loadWorkflow(t, "name: ticks\nsource: {uses: csv, with: {path: items.csv}}\non: {schedule: {cron: \"* * * * * *\"}}\n")
	runs := hosts(t, 3, wf, nil)
	seen := map[string]bool{}
	for len(seen) < 3 {
		id := <-runs
		if seen[id] {
			t.Fatalf("run %s started twice", id)
		}
		seen[id] = true
	}
}

// missed: once fires one run for the firings missed while no host ran.
func TestScheduleMissedOnce(t *testing.T) {
	wf := loadWorkflow(t, "name: daily\nsource: {uses: csv, with: {path: items.csv}}\non: {schedule: {cron: \"0 9 * * *\", missed: once}}\n")
	clock := &fakeClock{now: time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC), waiting: make(chan struct{}, 100)}
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kv, err := Open(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	// The last firing was three days ago.
	if _, err := kv.Put(ctx, lastKey("daily"), []byte("1772528400")); err != nil { // 2026-03-03T09:00:00Z
		t.Fatal(err)
	}
	runs := make(chan string, 10)
	s := &Scheduler{KV: kv, Clock: clock, Run: func(_ context.Context, _ *workflow.Workflow, id string) error { runs <- id; return nil }}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(sctx, wf) }()
	<-clock.waiting
	if id := <-runs; id != "daily-schedule-20260306T090000Z" {
		t.Fatalf("caught up with %s", id)
	}
	cancel()
	<-done
	select {
	case id := <-runs:
		t.Fatalf("a second catch-up run %s", id)
	default:
	}
}
