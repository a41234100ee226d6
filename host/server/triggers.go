package server

import (
	"context"
	"log/slog"
	"sync"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/httpapi"
	"github.com/paperflow/paperflow/host/trigger"
	"github.com/paperflow/paperflow/host/trigger/schedule"
	"github.com/paperflow/paperflow/host/workflow"
)

// hostTriggers runs the triggers of the served workflows: workers on the
// day runs of http and form items, and the cron schedules. Every host
// runs them for every workflow it serves; the queue shares the items and
// a schedule's claim makes each firing run once.
type hostTriggers struct {
	ctx       context.Context
	engine    *engine.Engine
	triggered *engine.Triggered
	scheduler *schedule.Scheduler
	secrets   workflow.Secrets
	log       *slog.Logger

	mu      sync.Mutex
	running map[string]*runningTriggers // by workflow name
}

type runningTriggers struct {
	wf     *workflow.Workflow
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newHostTriggers prepares the triggers and the items API that feeds them.
func newHostTriggers(ctx context.Context, b *bus.Bus, e *engine.Engine, token string, secrets workflow.Secrets, log *slog.Logger) (*hostTriggers, *httpapi.Items, error) {
	keys, err := trigger.OpenIdempotency(ctx, b)
	if err != nil {
		return nil, nil, err
	}
	firings, err := schedule.Open(ctx, b)
	if err != nil {
		return nil, nil, err
	}
	h := &hostTriggers{ctx: ctx, engine: e, triggered: e.NewTriggered(), secrets: secrets, log: log, running: map[string]*runningTriggers{}}
	h.scheduler = &schedule.Scheduler{KV: firings, Log: log, Run: h.runFiring}
	items := &httpapi.Items{
		Intake:    &trigger.Intake{Items: h.triggered, Keys: keys, Log: log},
		Documents: e.Documents(), Lookup: h.lookup, Token: token, Secrets: secrets, Log: log,
	}
	return h, items, nil
}

// runFiring runs a schedule's firing: the workflow's source, once.
func (h *hostTriggers) runFiring(ctx context.Context, wf *workflow.Workflow, runID string) error {
	sum, err := h.engine.Run(ctx, wf, engine.RunOptions{NewID: runID, Trigger: workflow.TriggerSchedule, Secrets: h.secrets})
	if err != nil {
		return err
	}
	h.log.Info("scheduled run finished", "run", sum.RunID, "workflow", wf.Name, "items", sum.Items, "failed", sum.Failed)
	return nil
}

// start runs wf's triggers, replacing those of an earlier version.
func (h *hostTriggers) start(wf *workflow.Workflow) {
	h.stop(wf.Name)
	ctx, cancel := context.WithCancel(h.ctx)
	rt := &runningTriggers{wf: wf, cancel: cancel}
	for _, kind := range []string{workflow.TriggerHTTP, workflow.TriggerForm} {
		if (kind == workflow.TriggerHTTP && wf.On.HTTP == nil) || (kind == workflow.TriggerForm && wf.On.Form == nil) {
			continue
		}
		rt.wg.Add(1)
		go func() {
			defer rt.wg.Done()
			if err := h.triggered.Serve(ctx, wf, kind, engine.RunOptions{Secrets: h.secrets}); err != nil && ctx.Err() == nil {
				h.log.Error("trigger stopped", "workflow", wf.Name, "trigger", kind, "err", err)
			}
		}()
	}
	if len(wf.On.Schedules) > 0 {
		rt.wg.Add(1)
		go func() {
			defer rt.wg.Done()
			if err := h.scheduler.Serve(ctx, wf); err != nil && ctx.Err() == nil {
				h.log.Error("schedule stopped", "workflow", wf.Name, "err", err)
			}
		}()
	}
	h.mu.Lock()
	h.running[wf.Name] = rt
	h.mu.Unlock()
}

// stop ends a workflow's triggers and waits for their workers.
func (h *hostTriggers) stop(name string) {
	h.mu.Lock()
	rt := h.running[name]
	delete(h.running, name)
	h.mu.Unlock()
	if rt != nil {
		rt.cancel()
		rt.wg.Wait()
	}
}

// lookup finds a served workflow for the items API and the forms.
func (h *hostTriggers) lookup(name string) (*workflow.Workflow, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rt := h.running[name]; rt != nil {
		return rt.wf, true
	}
	return nil, false
}
