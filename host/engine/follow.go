package engine

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/paperflow/paperflow/host/bus"
)

// Follow watches a run that another process (a `paperflow serve` sharing
// this NATS) is running, reporting progress until it ends. It ends as soon
// as the run's record does, whichever host wrote it: with the summary of
// a completed run (counted from its recorded outcomes), the failure of a
// failed one, or an error wrapping ErrInterrupted.
func (e *Engine) Follow(ctx context.Context, runID string, progress func(Progress)) (*Summary, error) {
	start := time.Now()
	rec, err := e.loadRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	tr := newTracker(rec)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return e.track(gctx, runID, tr, progress, stop) })
	g.Go(func() error { return e.watchFollowed(gctx, runID, tr) })
	err = g.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	sum := tr.summary(rec.Workflow)
	var ended *runEnded
	switch {
	case errors.As(err, &ended):
		if sum, err = e.ended(ctx, ended.rec); err != nil {
			return nil, err
		}
	case err != nil && !errors.Is(err, context.Canceled):
		return nil, err
	}
	sum.Seconds = time.Since(start).Seconds()
	return sum, nil
}

// runEnded stops a follower: the run's record says it ended.
type runEnded struct{ rec *runRecord }

func (r *runEnded) Error() string { return "run " + r.rec.ID + " " + r.rec.Status }

// watchFollowed keeps a follower's count of read items current from the
// run record and stops the follower once the record shows the run ended.
func (e *Engine) watchFollowed(ctx context.Context, runID string, tr *tracker) error {
	return e.pollRun(ctx, runID, func(rec *runRecord) error {
		if rec.Status != "running" {
			return &runEnded{rec: rec}
		}
		tr.setRead(rec.Enqueued, rec.SourceDone)
		return nil
	})
}

// RunInfo is a run's record as listed by the API.
type RunInfo = runRecord

// Runs lists the runs kept in NATS, newest first.
func (e *Engine) Runs(ctx context.Context) ([]RunInfo, error) {
	lister, err := e.opts.Store.Runs.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []RunInfo
	for k := range lister.Keys() {
		ent, err := e.opts.Store.Runs.Get(ctx, k)
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			return nil, err
		}
		var rec runRecord
		if json.Unmarshal(ent.Value(), &rec) == nil {
			if rec.Trigger == "" {
				rec.Trigger = TriggerManual // recorded before triggers were
			}
			out = append(out, rec)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// WatchRuns sends every run record, then each change to one, until ctx
// ends or the watch breaks (the channel is closed then).
func (e *Engine) WatchRuns(ctx context.Context) (<-chan RunInfo, error) {
	w, err := e.opts.Store.Runs.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	out := make(chan RunInfo)
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }()
		for ent := range bus.Entries(ctx, w) {
			if ent == nil {
				continue
			}
			var rec runRecord
			if json.Unmarshal(ent.Value(), &rec) != nil {
				continue
			}
			select {
			case out <- rec:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// Working reports whether this engine works on the run.
func (e *Engine) Working(runID string) bool {
	_, ok := e.active.Load(runID)
	return ok
}
