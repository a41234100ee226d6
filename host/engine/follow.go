package engine

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// Follow watches a run that another process (a `paperflow serve` sharing
// this NATS) is running, reporting progress until it completes.
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
	g.Go(func() error { return e.watchRun(gctx, runID, tr) })
	err = g.Wait()
	if (errors.Is(err, context.Canceled) || errors.Is(err, errCompletedElsewhere)) && ctx.Err() == nil {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	sum := tr.summary(rec.Workflow)
	sum.Seconds = time.Since(start).Seconds()
	return sum, nil
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
		for {
			select {
			case <-ctx.Done():
				return
			case ent, ok := <-w.Updates():
				if !ok {
					return
				}
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
		}
	}()
	return out, nil
}

// Working reports whether this engine works on the run.
func (e *Engine) Working(runID string) bool {
	_, ok := e.active.Load(runID)
	return ok
}
