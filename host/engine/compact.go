package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
)

// DefaultDetailRetention is how long the per-item detail of a completed
// run (its checkpoints) is kept when nobody says otherwise: long enough to
// look into a run and retry its failed items the next day, short enough
// that a host running many runs keeps its NATS indexes small. The run's
// record and outcomes stay for bus.Retention either way.
const DefaultDetailRetention = 24 * time.Hour

// compactEvery bounds how often completed runs are looked at.
const compactEvery = 10 * time.Minute

// CompactLoop compacts the runs whose detail has outlived the retention,
// now and then, until ctx ends. A long-lived host runs it; every host may:
// compacting twice is harmless.
func (e *Engine) CompactLoop(ctx context.Context) {
	every := min(max(e.opts.DetailRetention/4, time.Second), compactEvery)
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := e.Compact(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("compact completed runs", "err", err)
		} else if n > 0 {
			e.log.Info("compacted completed runs", "runs", n)
		}
		t.Reset(every)
	}
}

// Compact removes the checkpoints and mail records of runs that completed
// more than the detail retention ago and records them compacted. A
// compacted run can still be listed and summarised (its outcomes stay);
// retrying one of its items runs every block of that item again, and
// sends its email again. A run is recorded compacted and purging
// (compare-and-set, checked again) before its detail goes, so a retry
// that starts on it meanwhile either keeps it from being compacted or
// finds it compacted; a run left purging by a host that stopped is
// purged again by the next compaction.
func (e *Engine) Compact(ctx context.Context) (int, error) {
	lister, err := e.opts.Store.Runs.ListKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("list runs: %w", err)
	}
	var due []string
	for key := range lister.Keys() {
		ent, err := e.opts.Store.Runs.Get(ctx, key)
		if err != nil {
			continue
		}
		var rec runRecord
		if json.Unmarshal(ent.Value(), &rec) != nil {
			continue
		}
		if rec.Purging || e.compactable(&rec) {
			due = append(due, rec.ID)
		}
	}
	if len(due) == 0 {
		return 0, nil
	}
	stream, err := checkpointStream(ctx, e.opts.Bus.JS)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range due {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		_, err := e.updateRun(ctx, id, func(rec *runRecord) error {
			if rec.Purging {
				return nil // a compaction that stopped half-way
			}
			if !e.compactable(rec) {
				return errUnchanged
			}
			rec.Compacted, rec.Purging = true, true
			return nil
		})
		if errors.Is(err, errUnchanged) {
			continue
		}
		if err != nil {
			return n, err
		}
		// Once marked, the purge goes on through a host's shutdown; if it
		// does not finish, the run stays purging for the next compaction.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		err = e.purgeDetail(pctx, stream, id)
		if err == nil {
			_, err = e.updateRun(pctx, id, func(rec *runRecord) error {
				rec.Purging = false
				return nil
			})
		}
		cancel()
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// compactable reports whether a run's detail has outlived the retention:
// the run completed, and neither its end nor the start of a retry of its
// items is more recent than that.
func (e *Engine) compactable(rec *runRecord) bool {
	old := func(t time.Time) bool { return time.Since(t) >= e.opts.DetailRetention }
	return rec.Status == "completed" && !rec.Compacted && !rec.Finished.IsZero() && old(rec.Finished) && old(rec.Retried)
}

// purgeDetail removes a run's checkpoints and mail records.
func (e *Engine) purgeDetail(ctx context.Context, checkpoints jetstream.Stream, runID string) error {
	if err := checkpoints.Purge(ctx, jetstream.WithPurgeSubject("$KV."+bus.CheckpointsBucket+"."+runID+".>")); err != nil {
		return fmt.Errorf("run %s: purge checkpoints: %w", runID, err)
	}
	if err := purgeRunMail(ctx, e.opts.Bus.JS, runID); err != nil {
		return fmt.Errorf("run %s: purge mail records: %w", runID, err)
	}
	return nil
}
