// Package schedule fires the cron schedules of workflows (on: {schedule:
// ...}): each firing runs the workflow's source once in a cluster, however
// many hosts serve the workflow. The first host to create the firing's key
// in NATS runs it; the others see the key exists and do nothing.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/workflow"
)

// Bucket holds the claims of firings and each workflow's last firing.
const Bucket = "paperflow_schedules"

// claimsKept is how long claims and last firings are kept: a workflow not
// served for longer has no firing missed with missed: once.
const claimsKept = 30 * 24 * time.Hour

// Open makes (or opens) the bucket of firings.
func Open(ctx context.Context, b *bus.Bus) (jetstream.KeyValue, error) {
	return b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: Bucket, TTL: claimsKept})
}

// Clock is the time a Scheduler goes by; tests give it one they move.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RunFunc runs a workflow's source once as a new run with the given id.
type RunFunc func(ctx context.Context, wf *workflow.Workflow, runID string) error

// Scheduler fires the schedules of the workflows it serves.
type Scheduler struct {
	// KV is the bucket of firings (Open).
	KV jetstream.KeyValue
	// Run starts a firing's run; it is called in a goroutine of its own.
	Run   RunFunc
	Clock Clock // nil: the real one
	Log   *slog.Logger
}

// RunID is the id of the run of a firing: the same on every host.
func RunID(workflowName string, at time.Time) string {
	return workflowName + "-schedule-" + at.UTC().Format("20060102T150405Z")
}

func claimKey(workflowName string, at time.Time) string {
	return workflowName + "." + strconv.FormatInt(at.UTC().Unix(), 10)
}

func lastKey(workflowName string) string { return workflowName + ".last" }

// Serve fires wf's schedules until ctx ends.
func (s *Scheduler) Serve(ctx context.Context, wf *workflow.Workflow) error {
	if len(wf.On.Schedules) == 0 {
		return nil
	}
	if s.Clock == nil {
		s.Clock = realClock{}
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	s.catchUp(ctx, wf)
	errs := make(chan error, len(wf.On.Schedules))
	for _, sc := range wf.On.Schedules {
		go func() { errs <- s.serveOne(ctx, wf, sc) }()
	}
	var first error
	for range wf.On.Schedules {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Scheduler) serveOne(ctx context.Context, wf *workflow.Workflow, sc workflow.Schedule) error {
	if sc.Spec == nil {
		return fmt.Errorf("workflow %s: schedule %q was not checked by Load", wf.Name, sc.Cron)
	}
	for {
		now := s.Clock.Now()
		next := sc.Spec.Next(now.In(sc.Location))
		if next.IsZero() {
			return nil // a schedule that never fires again
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.Clock.After(next.Sub(now)):
		}
		s.fire(ctx, wf, next)
	}
}

// catchUp fires once for the latest firing missed while no host ran, when
// a schedule says missed: once. The claim makes it once in the cluster.
func (s *Scheduler) catchUp(ctx context.Context, wf *workflow.Workflow) {
	ent, err := s.KV.Get(ctx, lastKey(wf.Name))
	if err != nil {
		return // never fired, or forgotten: nothing was missed that we know of
	}
	sec, err := strconv.ParseInt(string(ent.Value()), 10, 64)
	if err != nil {
		return
	}
	last, now := time.Unix(sec, 0), s.Clock.Now()
	var missed time.Time
	for _, sc := range wf.On.Schedules {
		if sc.Missed != workflow.MissedOnce || sc.Spec == nil {
			continue
		}
		// The latest firing after last and before now, if any.
		for t := sc.Spec.Next(last.In(sc.Location)); !t.IsZero() && !t.After(now); t = sc.Spec.Next(t) {
			if t.After(missed) {
				missed = t
			}
		}
	}
	if !missed.IsZero() {
		s.Log.Info("schedule: firing once for what was missed while no host ran", "workflow", wf.Name, "missed", missed.UTC().Format(time.RFC3339))
		s.fire(ctx, wf, missed)
	}
}

// fire claims a firing and, when this host's claim is the first, runs it.
func (s *Scheduler) fire(ctx context.Context, wf *workflow.Workflow, at time.Time) {
	at = at.UTC()
	if _, err := s.KV.Create(ctx, claimKey(wf.Name, at), []byte(at.Format(time.RFC3339))); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
			s.Log.Warn("schedule: could not claim a firing; another host may run it", "workflow", wf.Name, "at", at, "err", err)
		}
		return
	}
	s.remember(ctx, wf.Name, at)
	runID := RunID(wf.Name, at)
	go func() {
		if err := s.Run(ctx, wf, runID); err != nil && ctx.Err() == nil {
			s.Log.Error("scheduled run failed", "workflow", wf.Name, "run", runID, "err", err)
		}
	}()
}

// remember records the latest firing, never moving it back.
func (s *Scheduler) remember(ctx context.Context, name string, at time.Time) {
	val := []byte(strconv.FormatInt(at.Unix(), 10))
	for range 10 {
		ent, err := s.KV.Get(ctx, lastKey(name))
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if _, err := s.KV.Create(ctx, lastKey(name), val); err == nil {
				return
			}
		case err != nil:
			return
		default:
			if prev, perr := strconv.ParseInt(string(ent.Value()), 10, 64); perr == nil && prev >= at.Unix() {
				return
			}
			if _, err := s.KV.Update(ctx, lastKey(name), val, ent.Revision()); err == nil {
				return
			}
		}
	}
}
