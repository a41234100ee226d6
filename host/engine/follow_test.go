package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
)

// followEnv is a host that runs a slow workflow and a second engine on
// the same NATS that follows its run, as `paperflow run` follows a run it
// handed to `paperflow serve`.
type followEnv struct {
	*testEnv
	follower *engine.Engine
}

func newFollowEnv(t *testing.T) *followEnv {
	t.Helper()
	env := newEnv(t, func(o *engine.Options) { o.ItemTimeout = 2 * time.Second; o.BatchSize = 2; o.Workers = 2 })
	f, err := engine.New(context.Background(), engine.Options{
		Bus: env.bus, Plugins: pluginhost.Registry{Dir: pluginDir}, PublicURL: "http://127.0.0.1:8080",
		Mail: mail.Outbox{Dir: t.TempDir()}, Log: hosttest.Logger(t, slog.LevelWarn),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &followEnv{testEnv: env, follower: f}
}

// slowCSV is n items for a workflow whose block sleeps per item.
func slowCSV(n int) string {
	var b strings.Builder
	b.WriteString("Name\n")
	for i := range n {
		fmt.Fprintf(&b, "p%d\n", i)
	}
	return b.String()
}

const slowFlow = "name: followed\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: a, uses: testblock, with: {emit: true, sleep_ms: 50}}\n"

type followResult struct {
	sum *engine.Summary
	err error
	at  time.Time
}

// follow follows runID in the background.
func (env *followEnv) follow(ctx context.Context, runID string) <-chan followResult {
	out := make(chan followResult, 1)
	go func() {
		sum, err := env.follower.Follow(ctx, runID, nil)
		out <- followResult{sum, err, time.Now()}
	}()
	return out
}

// TestFollowEndsWhenTheRunIsInterrupted: the host running a followed run
// is stopped with Ctrl-C and records it interrupted; the follower says so
// at once instead of waiting for outcomes that will not come.
func TestFollowEndsWhenTheRunIsInterrupted(t *testing.T) {
	t.Parallel()
	env := newFollowEnv(t)
	wf := env.load(t, slowFlow, slowCSV(200), nil)
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	started := make(chan string, 1)
	someDone := make(chan struct{})
	ran := make(chan error, 1)
	go func() {
		once := false
		_, err := env.engine.Run(ctx, wf, engine.RunOptions{Interruptible: true,
			OnStart: func(id string) { started <- id },
			Progress: func(p engine.Progress) {
				if p.Done >= 4 && !once {
					once = true
					close(someDone)
				}
			}})
		ran <- err
	}()
	id := <-started
	followed := env.follow(context.Background(), id)
	<-someDone
	interrupt()
	<-ran
	interruptedAt := time.Now()

	select {
	case r := <-followed:
		if r.err == nil || !strings.Contains(r.err.Error(), "interrupted") {
			t.Fatalf("follow ended with %+v, %v; want the run's interruption", r.sum, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("follow still waits %s after the run was interrupted", time.Since(interruptedAt).Round(time.Second))
	}
}

// TestFollowEndsWhenAnotherHostCompletesTheRun: the host that took the
// run stops mid-run; a second host joins and completes it. The follower
// ends within moments of the completion with every item counted.
func TestFollowEndsWhenAnotherHostCompletesTheRun(t *testing.T) {
	if testing.Short() {
		t.Skip("takeover by a second host")
	}
	t.Parallel()
	const items = 60
	env := newFollowEnv(t)
	wf := env.load(t, slowFlow, slowCSV(items), nil)
	second, err := engine.New(context.Background(), engine.Options{
		Bus: env.bus, Plugins: pluginhost.Registry{Dir: pluginDir}, PublicURL: "http://127.0.0.1:8080",
		Mail: mail.Outbox{Dir: t.TempDir()}, Log: hosttest.Logger(t, slog.LevelWarn),
		ItemTimeout: 2 * time.Second, BatchSize: 2, Workers: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, die := context.WithCancel(context.Background())
	defer die()
	started := make(chan string, 1)
	someDone := make(chan struct{})
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		once := false
		_, _ = env.engine.Run(ctx, wf, engine.RunOptions{
			OnStart: func(id string) { started <- id },
			Progress: func(p engine.Progress) {
				if p.Done >= 6 && !once {
					once = true
					close(someDone)
				}
			}})
	}()
	id := <-started
	followed := env.follow(context.Background(), id)
	<-someDone
	die() // the host stops without a word: the run stays "running"
	<-ran

	sum, err := second.Join(context.Background(), wf, id, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	completedAt := time.Now()
	if sum.Items != items {
		t.Fatalf("the second host's summary: %+v", sum)
	}
	select {
	case r := <-followed:
		if r.err != nil {
			t.Fatalf("follow: %v", r.err)
		}
		if r.sum.Items != items || r.sum.Succeeded != items || r.sum.Events["DOCUMENTS_CREATED"] != items {
			t.Errorf("follower's summary: %+v", r.sum)
		}
		if lag := r.at.Sub(completedAt); lag > 3*time.Second {
			t.Errorf("follow ended %s after the run completed", lag.Round(100*time.Millisecond))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow still waits 10s after the run completed")
	}
}

// runStatus is a run's status as `paperflow runs` lists it.
func runStatus(t *testing.T, e *engine.Engine, runID string) string {
	t.Helper()
	runs, err := e.Runs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.ID == runID {
			return r.Status
		}
	}
	return ""
}

// TestInterruptKeepsTheTrueEnd: Ctrl-C of a follower records a running
// run interrupted, which stops the host running it; a run another host
// completed stays completed, and the follower reports its summary.
func TestInterruptKeepsTheTrueEnd(t *testing.T) {
	t.Parallel()
	env := newFollowEnv(t)
	ctx := context.Background()

	quick := env.load(t, "name: quick\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: a, uses: testblock, with: {emit: true}}\n", slowCSV(5), nil)
	done, err := env.engine.Run(ctx, quick, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := env.follower.Interrupt(ctx, done.RunID)
	if err != nil || sum == nil || sum.Items != 5 || sum.Succeeded != 5 || sum.Events["DOCUMENTS_CREATED"] != 5 {
		t.Errorf("Ctrl-C after the run completed: %+v, %v; want the completed summary", sum, err)
	}
	if got := runStatus(t, env.engine, done.RunID); got != "completed" {
		t.Errorf("a completed run is recorded %q after Ctrl-C", got)
	}

	slow := env.load(t, slowFlow, slowCSV(200), nil)
	started := make(chan string, 1)
	ran := make(chan error, 1)
	go func() {
		_, err := env.engine.Run(ctx, slow, engine.RunOptions{OnStart: func(id string) { started <- id }})
		ran <- err
	}()
	id := <-started
	if _, err := env.follower.Interrupt(ctx, id); !errors.Is(err, engine.ErrInterrupted) {
		t.Errorf("Ctrl-C of a running run: %v, want ErrInterrupted", err)
	}
	select {
	case err := <-ran:
		if !errors.Is(err, engine.ErrInterrupted) {
			t.Errorf("the host's run ended with %v, want ErrInterrupted", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the host still runs the run 10s after it was interrupted")
	}
	if got := runStatus(t, env.engine, id); got != "interrupted" {
		t.Errorf("an interrupted run is recorded %q", got)
	}
}
