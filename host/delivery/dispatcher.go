// Package delivery feeds sinks from the events stream, durably: for each
// sink (a sink block of a workflow, or a webhook subscription) one durable
// JetStream consumer on PAPERFLOW_EVENTS, filtered to the sink's workflow
// and event types, hands batches of events to the sink, and the sink's
// verdict per event decides what happens next:
//
//	Delivered, Skipped   ack: done
//	Retry                NakWithDelay(the sink's RetryAfter, else the retry policy's next wait)
//	Failed, or Retry     publish to PAPERFLOW_DEAD_LETTERS, then ack
//	after the last attempt
//
// The delay of a NakWithDelay is kept by the NATS server, not by this
// process, so a retry that is due survives a restart of the host (or is
// taken by another host on the same NATS). Every attempt is recorded in the
// attempt log, PAPERFLOW_ATTEMPTS. Replay and ReplayDeadLetters queue
// events on PAPERFLOW_REPLAYS, which each sink also consumes, so a replay
// goes through the same retries and logs.
//
// Delivery is at least once: a host that dies after a receiver answered but
// before the ack reached NATS delivers that event again. Receivers drop
// duplicates by event id (the webhook-id header).
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	evstream "github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/plugins/sdk/retries"
)

// Options configure a Dispatcher.
type Options struct {
	JS jetstream.JetStream
	// Replicas for the streams delivery creates (default 1).
	Replicas int
	Log      *slog.Logger
	// BatchSize is the most events handed to a sink in one call (default 64).
	BatchSize int
	// InFlight is the number of batches per sink delivered at the same
	// time (default 8).
	InFlight int
	// AckWait is how long NATS waits for a verdict before it offers an
	// event again; a batch in flight renews it (default 30s).
	AckWait time.Duration
	// MaxAckPending bounds the events of one sink that are in flight or
	// waiting for a retry (default 20000); beyond it new events wait.
	MaxAckPending int
	// StopGrace is how long Stop lets batches in flight finish before it
	// cancels them (default 15s).
	StopGrace time.Duration
	// Redact removes secret values from what a sink reports (a receiver
	// may echo a secret back) before it reaches the attempt log.
	Redact func(string) string
}

func (o *Options) defaults() {
	if o.Redact == nil {
		o.Redact = func(s string) string { return s }
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 64
	}
	if o.InFlight <= 0 {
		o.InFlight = 8
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.MaxAckPending <= 0 {
		o.MaxAckPending = 20000
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 15 * time.Second
	}
}

// Target is one sink to feed.
type Target struct {
	// Workflow whose events the sink gets; "" for every workflow (a
	// subscription).
	Workflow string
	// Name identifies the sink within its workflow: the block id, or
	// "sub-<id>" for a subscription. [a-z0-9_-] only.
	Name string
	// Events are the event types to deliver; nil: all.
	Events []string
	// Workflows, with Workflow "", limits the target to these workflows'
	// events (a subscription's filter); nil: every workflow.
	Workflows []string
	// Retry is the retry policy (DefaultRetry when zero).
	Retry retries.Policy
	// Schedule, when set, is the retry policy written as its waits
	// (Schedule.Policy), as a sink declares it; it takes Retry's place.
	Schedule Schedule
	// Sink does the delivering.
	Sink Sink
	// FromNow makes a new consumer start with the events published from now
	// on; otherwise it starts with every event of the workflow kept in the
	// stream. An existing consumer keeps its position either way.
	FromNow bool
	// Disabled keeps the target's consumers (and so their position) but
	// delivers nothing: the events that arrive are held until it is added
	// again enabled.
	Disabled bool
	// NoBackfill, when a disabled target is enabled again, skips the
	// events held meanwhile (and the retries that were waiting) instead of
	// delivering them.
	NoBackfill bool
}

// subjects are the event subjects the target takes.
func (t Target) subjects() []string {
	if t.Workflow != "" || len(t.Workflows) == 0 {
		return eventSubjects(t.Workflow, t.Events)
	}
	var out []string
	for _, w := range t.Workflows {
		out = append(out, eventSubjects(w, t.Events)...)
	}
	return out
}

// Ref is the target's "workflow/name", as the CLI and queries write it.
func (t Target) Ref() string { return token(t.Workflow) + "/" + t.Name }

// Dispatcher feeds a set of sinks. Targets can be added and removed while
// it runs (subscriptions come and go).
type Dispatcher struct {
	o   Options
	ctx context.Context

	mu      sync.Mutex
	runners map[string]*runner
	stopped bool
}

// Start ensures delivery's streams and starts feeding targets. ctx bounds
// the dispatcher's life; Stop ends it sooner.
func Start(ctx context.Context, o Options, targets ...Target) (*Dispatcher, error) {
	o.defaults()
	if o.JS == nil {
		return nil, errors.New("delivery: no JetStream")
	}
	if err := EnsureStreams(ctx, o.JS, o.Replicas); err != nil {
		return nil, err
	}
	d := &Dispatcher{o: o, ctx: ctx, runners: map[string]*runner{}}
	for _, t := range targets {
		if err := d.Add(ctx, t); err != nil {
			d.Stop()
			return nil, err
		}
	}
	return d, nil
}

// Add starts feeding t, creating its consumers if needed; a target of the
// same Ref already running is replaced. A Disabled target only gets its
// consumers, which hold its events until it is added enabled.
func (d *Dispatcher) Add(ctx context.Context, t Target) error {
	if t.Name == "" || t.Sink == nil {
		return errors.New("delivery: a target needs a name and a sink")
	}
	t.Retry = t.RetryPolicy()
	events, replays, filter, err := ensureConsumers(ctx, d.o, t)
	if err != nil {
		return err
	}
	d.Remove(t.Workflow, t.Name)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return errors.New("delivery: dispatcher stopped")
	}
	if t.Disabled {
		d.o.Log.Info("sink disabled: its events are held until it is enabled", "sink", t.Ref())
		return nil
	}
	r := newRunner(d.ctx, d.o, t, filter, events, replays)
	d.runners[t.Ref()] = r
	go r.run()
	return nil
}

// Remove stops feeding the target workflow/name and waits for its batches
// in flight. Its consumers stay, so it resumes where it stopped when added
// again.
func (d *Dispatcher) Remove(workflow, name string) {
	ref := Target{Workflow: workflow, Name: name}.Ref()
	d.mu.Lock()
	r := d.runners[ref]
	delete(d.runners, ref)
	d.mu.Unlock()
	if r != nil {
		r.stop()
	}
}

// Targets lists the refs of the running targets.
func (d *Dispatcher) Targets() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.runners))
	for ref := range d.runners {
		out = append(out, ref)
	}
	return out
}

// Stop stops every target, letting batches in flight finish (up to
// Options.StopGrace), and returns when they have.
func (d *Dispatcher) Stop() {
	d.mu.Lock()
	d.stopped = true
	rs := d.runners
	d.runners = map[string]*runner{}
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(r.stop)
	}
	wg.Wait()
	_ = d.o.JS.Conn().Flush() // acks are fire-and-forget; make sure they left
}

// Replay queues the event eventID for delivery again to every sink whose
// consumer takes it, and returns their refs.
func (d *Dispatcher) Replay(ctx context.Context, eventID string) ([]string, error) {
	return Replay(ctx, d.o.JS, eventID)
}

// ReplayDeadLetters queues every dead letter for delivery again and
// removes it from the dead letters.
func (d *Dispatcher) ReplayDeadLetters(ctx context.Context) (int, error) {
	return ReplayDeadLetters(ctx, d.o.JS)
}

// ensureConsumers creates the target's durable consumers on the events
// and replays streams, or brings an existing one's filter up to date
// (keeping its position). filter says which events the target takes of
// what its consumers hand out.
func ensureConsumers(ctx context.Context, o Options, t Target) (events, replays jetstream.Consumer, filter consumerFilter, err error) {
	name := consumerName(t.Workflow, t.Name)
	meta := map[string]string{metaWorkflow: token(t.Workflow), metaSink: t.Name}
	if t.Disabled {
		meta[metaDisabled] = "true"
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       name,
		Description:   sinkDescription(t),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		MaxDeliver:    -1, // the retry policy decides when to give up
		MaxAckPending: o.MaxAckPending,
		Metadata:      meta,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if t.FromNow {
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	filter = filterFor(o.JS.Conn(), t.subjects())
	if len(filter.server) == 1 {
		cfg.FilterSubject = filter.server[0]
	} else {
		cfg.FilterSubjects = filter.server
	}
	if !t.Disabled && t.NoBackfill {
		skipped, err := skipHeld(ctx, o, evstream.StreamName, name)
		if err != nil {
			return nil, nil, filter, fmt.Errorf("sink %s: skipping the events held while disabled: %w", t.Ref(), err)
		}
		if skipped {
			cfg.DeliverPolicy = jetstream.DeliverNewPolicy
		}
	}
	events, err = ensureConsumer(ctx, o.JS, evstream.StreamName, cfg)
	if err != nil {
		return nil, nil, filter, fmt.Errorf("sink %s: consumer on %s: %w", t.Ref(), evstream.StreamName, err)
	}
	rcfg := cfg
	rcfg.FilterSubject, rcfg.FilterSubjects = ReplaySubject(t.Workflow, t.Name), nil
	rcfg.DeliverPolicy = jetstream.DeliverAllPolicy
	replays, err = ensureConsumer(ctx, o.JS, ReplaysStream, rcfg)
	if err != nil {
		return nil, nil, filter, fmt.Errorf("sink %s: consumer on %s: %w", t.Ref(), ReplaysStream, err)
	}
	return events, replays, filter, nil
}

func ensureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := js.Consumer(ctx, stream, cfg.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		c, err = js.CreateConsumer(ctx, stream, cfg)
		if errors.Is(err, jetstream.ErrConsumerExists) {
			c, err = js.Consumer(ctx, stream, cfg.Durable)
		} else {
			return c, err
		}
	}
	if err != nil {
		return nil, err
	}
	cur := c.CachedInfo().Config
	if sameFilter(cur, cfg) && cur.Description == cfg.Description && cur.AckWait == cfg.AckWait && cur.MaxAckPending == cfg.MaxAckPending &&
		cur.Metadata[metaDisabled] == cfg.Metadata[metaDisabled] {
		return c, nil
	}
	// The start position cannot change; everything else may.
	cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = cur.DeliverPolicy, cur.OptStartSeq, cur.OptStartTime
	return js.UpdateConsumer(ctx, stream, cfg)
}

// skipHeld deletes the consumer name of a sink that was disabled, so that
// ensureConsumer creates it again from the events published from now on:
// the position of a consumer cannot move forward otherwise.
func skipHeld(ctx context.Context, o Options, stream, name string) (bool, error) {
	c, err := o.JS.Consumer(ctx, stream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	info := c.CachedInfo()
	if info.Config.Metadata[metaDisabled] != "true" {
		return false, nil // not coming back from disabled: keep the position
	}
	o.Log.Info("sink enabled with backfill: false: the events held while it was disabled are skipped",
		"consumer", name, "skipped", info.NumPending, "pending_retries", info.NumAckPending)
	return true, o.JS.DeleteConsumer(ctx, stream, name)
}

func sameFilter(a, b jetstream.ConsumerConfig) bool {
	fa, fb := a.FilterSubjects, b.FilterSubjects
	if a.FilterSubject != "" {
		fa = []string{a.FilterSubject}
	}
	if b.FilterSubject != "" {
		fb = []string{b.FilterSubject}
	}
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if fa[i] != fb[i] {
			return false
		}
	}
	return true
}
