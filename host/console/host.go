package console

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/workflow"
)

// Host is what a paperflow host hands the console; FromHost wires the
// console's interfaces to it.
type Host struct {
	Bus     *bus.Bus
	Engine  *engine.Engine
	Secrets workflow.Secrets
	// Starter is the host's run starter, the one behind POST /api/runs.
	Starter RunStarter
	// Subscriptions is the host's webhook subscription store.
	Subscriptions *delivery.SubscriptionStore
	// Loaded lists the workflows the host serves.
	Loaded Workflows
	// Deployed is the store of deployed workflows, nil when the host keeps
	// none: the console shows versions and rolls back through it.
	Deployed *deploy.Store
	// Uploads starts runs on uploaded files; nil takes no uploads.
	Uploads Uploads
	// Outbox is where mail goes when no SMTP server is set (nil otherwise).
	Outbox *mail.Outbox
	// Token and ReadOnlyToken log in (see Options).
	Token, ReadOnlyToken string
	// PublicURL decides whether the session cookie is Secure.
	PublicURL string
	Log       *slog.Logger
}

// FromHost builds the console's options from a host's parts. The run
// reader it starts lives as long as ctx.
func FromHost(ctx context.Context, h Host) (Options, error) {
	store, err := h.Bus.EnsureStore(ctx)
	if err != nil {
		return Options{}, err
	}
	sessions, err := OpenSessions(ctx, h.Bus)
	if err != nil {
		return Options{}, err
	}
	o := Options{
		Token: h.Token, ReadOnlyToken: h.ReadOnlyToken, Sessions: sessions,
		Workflows: h.Loaded, Runs: engine.NewReader(ctx, store, h.Bus.JS, h.Log),
		Starter: h.Starter, Uploads: h.Uploads, Events: StreamEvents{JS: h.Bus.JS}, Deliveries: StreamDeliveries{JS: h.Bus.JS},
		Documents: h.Engine.Documents(), Log: h.Log,
	}
	if o.Locks, err = OpenRunLocks(ctx, h.Bus, h.Log); err != nil {
		return Options{}, err
	}
	o.Retrier = &EngineRetrier{Ctx: ctx, Engine: h.Engine, Secrets: h.Secrets, Log: h.Log, Runs: o.Runs, Deployed: h.Deployed}
	if h.Subscriptions != nil {
		o.Subscriptions = h.Subscriptions
	}
	if h.Deployed != nil {
		o.Deployments = h.Deployed
	}
	if h.Outbox != nil {
		o.Mail = *h.Outbox
	}
	if u, err := url.Parse(h.PublicURL); err == nil && u.Scheme == "https" {
		o.SecureCookies = true
	}
	return o, nil
}

// StreamEvents tails the events stream.
type StreamEvents struct{ JS jetstream.JetStream }

// Tail follows events (events.Tail).
func (s StreamEvents) Tail(ctx context.Context, workflow, typ string, last int, fn func(events.Tailed) error) error {
	return events.Tail(ctx, s.JS, workflow, typ, last, fn)
}

// StreamDeliveries reads delivery's attempt log and dead letters.
type StreamDeliveries struct{ JS jetstream.JetStream }

// AttemptsOf reads the attempts of some events.
func (s StreamDeliveries) AttemptsOf(ctx context.Context, ids []string, since time.Time) (map[string][]delivery.Attempt, error) {
	return delivery.AttemptsOf(ctx, s.JS, ids, since)
}

// Replay queues an event again for every sink that takes it.
func (s StreamDeliveries) Replay(ctx context.Context, eventID string) ([]string, error) {
	return delivery.Replay(ctx, s.JS, eventID)
}

// DeadLetters lists every sink's dead letters.
func (s StreamDeliveries) DeadLetters(ctx context.Context) ([]delivery.DeadLetter, error) {
	return delivery.DeadLetters(ctx, s.JS)
}

// ReplayDeadLetter queues one dead letter again.
func (s StreamDeliveries) ReplayDeadLetter(ctx context.Context, seq uint64) error {
	_, err := delivery.ReplayDeadLetter(ctx, s.JS, seq)
	return err
}

// ReplayDeadLetters queues every dead letter again.
func (s StreamDeliveries) ReplayDeadLetters(ctx context.Context) (int, error) {
	return delivery.ReplayDeadLetters(ctx, s.JS)
}

// EngineRetrier retries items with the engine, on the workflow the run
// worked on: its deployed version, from NATS, so any host can retry it,
// or its workflow file for a run started before workflows were deployed.
type EngineRetrier struct {
	// Ctx bounds retries: they outlive the request that asked for them.
	Ctx     context.Context
	Engine  *engine.Engine
	Secrets workflow.Secrets
	Runs    RunReader
	// Deployed loads the versions runs record; nil loads files only.
	Deployed *deploy.Store
	Log      *slog.Logger
}

// RetryItems starts the retry and returns once it has checked the run and
// loaded its workflow.
func (e *EngineRetrier) RetryItems(ctx context.Context, runID string, items []string, done func()) error {
	run, err := e.Runs.Run(ctx, runID)
	if err != nil {
		return err
	}
	if run.Status == "running" {
		return fmt.Errorf("run %s is still running: retry its failed items once it has ended", runID)
	}
	wf, err := e.workflowOf(ctx, run)
	if err != nil {
		return err
	}
	go func() {
		defer done()
		sum, err := e.Engine.RetryItems(e.Ctx, wf, runID, items, engine.RunOptions{Secrets: e.Secrets})
		if err != nil {
			e.Log.Error("console: retry failed", "run", runID, "items", len(items), "err", err)
			return
		}
		e.Log.Info("console: retry done", "run", runID, "items", sum.Items, "failed", sum.Failed)
	}()
	return nil
}

// workflowOf loads the workflow a run worked on, as a host joining it
// does: the version it records, else its file.
func (e *EngineRetrier) workflowOf(ctx context.Context, run engine.RunInfo) (*workflow.Workflow, error) {
	if run.Version != "" {
		if e.Deployed == nil {
			return nil, fmt.Errorf("run %s works on version %s of %s, and this host keeps no deployed workflows", run.ID, run.Version, run.Workflow)
		}
		wf, _, err := e.Deployed.Load(ctx, run.Workflow, run.Version, workflow.WithSecrets(e.Secrets))
		if err != nil {
			return nil, fmt.Errorf("load version %s of %s, which run %s works on: %w", run.Version, run.Workflow, run.ID, err)
		}
		return wf, nil
	}
	wf, problems := workflow.Load(run.File, e.Engine.Catalog(), workflow.WithSecrets(e.Secrets))
	if len(problems) > 0 {
		return nil, fmt.Errorf("the run's workflow file %s does not load: %w", run.File, problems)
	}
	return wf, nil
}

// StaticWorkflows is a fixed list of workflows: the files serve was
// started with.
type StaticWorkflows struct {
	mu   sync.RWMutex
	list []Workflow
}

// Add describes a loaded workflow for the console.
func (s *StaticWorkflows) Add(wf *workflow.Workflow) {
	w := Workflow{Name: wf.Name, File: wf.File, Source: Block{ID: wf.Source.ID, Uses: wf.Source.Uses, Kind: "source"}}
	for _, b := range wf.Blocks {
		w.Blocks = append(w.Blocks, Block{ID: b.ID, Uses: b.Uses, Kind: b.Kind.String()})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, w)
}

// Workflows lists them in the order added.
func (s *StaticWorkflows) Workflows() []Workflow {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]Workflow(nil), s.list...)
}
