package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/workflow"
)

// openRun creates the record of a new run, or marks an earlier one
// running again for a resume; either way this engine claims the run.
func (e *Engine) openRun(ctx context.Context, wf *workflow.Workflow, runID string, ro RunOptions) (*runRecord, error) {
	file := wf.File
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	if runID == "" {
		trigger := ro.Trigger
		if trigger == "" {
			trigger = TriggerManual
		}
		id := ro.NewID
		if id == "" {
			id = NewRunID()
		}
		rec := &runRecord{ID: id, Workflow: wf.Name, File: file, Version: ro.Version, Trigger: trigger, Status: "running", Chunk: e.opts.BatchSize, Created: time.Now().UTC()}
		e.claim(rec.ID)
		raw, _ := json.Marshal(rec)
		if _, err := e.opts.Store.Runs.Create(ctx, rec.ID, raw); err != nil {
			e.release(rec.ID)
			return nil, fmt.Errorf("create run record: %w", err)
		}
		return rec, nil
	}
	if !e.claim(runID) {
		return nil, fmt.Errorf("run %s: %w", runID, ErrJoined)
	}
	rec, err := e.updateRun(ctx, runID, func(rec *runRecord) error {
		if rec.Workflow != wf.Name {
			return fmt.Errorf("run %s belongs to workflow %q, not %q", runID, rec.Workflow, wf.Name)
		}
		rec.Status, rec.Error, rec.Finished = "running", "", time.Time{}
		rec.Resumes++
		return nil
	})
	if err != nil {
		e.release(runID)
		return nil, err
	}
	return rec, nil
}

// TriggerManual is the trigger of a run a person or the run API started.
const TriggerManual = "manual"

// RunRecord returns a run's record: a resume and a host joining the run
// read its workflow and version there.
func (e *Engine) RunRecord(ctx context.Context, runID string) (RunInfo, error) {
	rec, err := e.loadRun(ctx, runID)
	if err != nil {
		return RunInfo{}, err
	}
	return *rec, nil
}

func (e *Engine) loadRun(ctx context.Context, runID string) (*runRecord, error) {
	rec, _, err := e.getRun(ctx, runID)
	return rec, err
}

func (e *Engine) getRun(ctx context.Context, runID string) (*runRecord, uint64, error) {
	ent, err := e.opts.Store.Runs.Get(ctx, runID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("run %s not found (list runs with `paperflow runs`; runs are kept %d days)", runID, int(bus.Retention.Hours()/24))
	}
	if err != nil {
		return nil, 0, fmt.Errorf("load run %s: %w", runID, err)
	}
	rec := &runRecord{}
	if err := json.Unmarshal(ent.Value(), rec); err != nil {
		return nil, 0, fmt.Errorf("run %s: corrupt record: %w", runID, err)
	}
	return rec, ent.Revision(), nil
}

// updateRun changes a run record with compare-and-set, so hosts sharing
// the run never overwrite each other's progress.
func (e *Engine) updateRun(ctx context.Context, runID string, change func(*runRecord) error) (*runRecord, error) {
	for attempt := 0; ; attempt++ {
		rec, rev, err := e.getRun(ctx, runID)
		if err != nil {
			return nil, err
		}
		if err := change(rec); err != nil {
			return nil, err
		}
		raw, _ := json.Marshal(rec)
		_, err = e.opts.Store.Runs.Update(ctx, runID, raw, rev)
		if err == nil {
			return rec, nil
		}
		if attempt >= 50 || ctx.Err() != nil {
			return nil, fmt.Errorf("update run %s: %w", runID, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
}

// finishRun records the end of a run once: the first host to see the
// run complete (or fail) writes it.
func (e *Engine) finishRun(runID string, runErr error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := e.updateRun(ctx, runID, func(rec *runRecord) error {
		if rec.Status != "running" {
			return errUnchanged
		}
		rec.Status, rec.Finished = "completed", time.Now().UTC()
		if runErr != nil {
			rec.Status, rec.Error = "failed", runErr.Error()
		}
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		e.log.Warn("record the end of the run", "run", runID, "err", err)
	}
	if runErr == nil {
		_ = e.opts.Store.HostKV.Purge(ctx, sourceLeaseKey(runID))
	}
}

var errUnchanged = errors.New("unchanged")

// errCompletedElsewhere: another host saw every outcome of the run and
// recorded it completed.
var errCompletedElsewhere = errors.New("run completed")

// ErrInterrupted is the end of a run stopped on purpose (Ctrl-C of
// `paperflow run`); `paperflow run --resume` carries it on.
var ErrInterrupted = errors.New("interrupted")

// Interrupt records a run interrupted, as Ctrl-C of the `paperflow run`
// that started it asks, unless the run has ended meanwhile: a run another
// host completed stays completed. It reports the run's true end: the
// summary of a completed run, the failure of a failed one, or an error
// wrapping ErrInterrupted.
func (e *Engine) Interrupt(ctx context.Context, runID string) (*Summary, error) {
	rec, err := e.updateRun(ctx, runID, func(rec *runRecord) error {
		if rec.Status != "running" {
			return errUnchanged
		}
		rec.Status = "interrupted"
		return nil
	})
	if errors.Is(err, errUnchanged) {
		rec, err = e.loadRun(ctx, runID)
	}
	if err != nil {
		return nil, fmt.Errorf("record run %s interrupted: %w", runID, err)
	}
	return e.ended(ctx, rec)
}

// ended reports how a finished run ended, with the summary of a completed
// one counted from its recorded outcomes.
func (e *Engine) ended(ctx context.Context, rec *runRecord) (*Summary, error) {
	switch rec.Status {
	case "completed":
		return e.summarize(ctx, rec)
	case "failed":
		return nil, &runFailedError{id: rec.ID, reason: rec.Error}
	case "interrupted":
		return nil, fmt.Errorf("run %s: %w", rec.ID, ErrInterrupted)
	}
	return nil, fmt.Errorf("run %s is still %s", rec.ID, rec.Status)
}

// summarize counts a run's outcomes with a read of its own (the consumer
// that followed the run may sit on a NATS node that is gone), read again
// from the start while NATS fails over, for up to maxStall.
func (e *Engine) summarize(ctx context.Context, rec *runRecord) (*Summary, error) {
	var tr *tracker
	err := stallRetry.Do(ctx, func(ctx context.Context) error {
		tr = newTracker(rec)
		return readStream(ctx, e.opts.Store.Outcomes, jetstream.ConsumerConfig{FilterSubject: bus.OutcomesSubject(rec.ID)}, 0, func(m jetstream.Msg) {
			var batch []outcome
			if json.Unmarshal(m.Data(), &batch) == nil {
				for _, o := range batch {
					tr.add(o)
				}
			}
		})
	})
	if err != nil {
		return nil, fmt.Errorf("run %s: read outcomes: %w", rec.ID, err)
	}
	return tr.summary(rec.Workflow), nil
}

// runFailedError is a run that failed on another host.
type runFailedError struct{ id, reason string }

func (e *runFailedError) Error() string { return fmt.Sprintf("run %s failed: %s", e.id, e.reason) }

func (e *runFailedError) Is(target error) bool { return target == ErrRunFailed }

// ErrRunFailed is wrapped by the error of a run recorded failed, so a
// caller can tell it from trouble reaching NATS.
var ErrRunFailed = errors.New("run failed")

// watchRun keeps the tracker's count of read items current from the run
// record (another host may be reading the source) and stops the run when
// it is recorded failed or interrupted.
func (e *Engine) watchRun(ctx context.Context, runID string, tr *tracker) error {
	return e.pollRun(ctx, runID, func(rec *runRecord) error {
		switch rec.Status {
		case "failed":
			return &runFailedError{id: runID, reason: rec.Error}
		case "interrupted":
			return fmt.Errorf("run %s: %w", runID, ErrInterrupted)
		case "completed":
			// Give this host's tracker time to read the last outcomes,
			// so its summary is whole; it ends the run itself then.
			tr.setRead(rec.Enqueued, rec.SourceDone)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Second):
				return errCompletedElsewhere
			}
		}
		tr.setRead(rec.Enqueued, rec.SourceDone)
		return nil
	})
}

// pollRun hands check the run's record four times a second until check
// returns an error or ctx ends. A tick whose record cannot be read is
// passed over: NATS may be failing over, and the next tick tries again.
func (e *Engine) pollRun(ctx context.Context, runID string, check func(*runRecord) error) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		rec, err := e.loadRun(ctx, runID)
		if err != nil {
			continue
		}
		if err := check(rec); err != nil {
			return err
		}
	}
}
