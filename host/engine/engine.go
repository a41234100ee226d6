// Package engine runs workflows: it reads a source into a durable work
// queue of items, runs every item through the workflow's blocks in
// batches, checkpoints each finished (item, block), validates and
// publishes the events blocks emit, and records each item's outcome.
//
// Everything it needs to resume lives in NATS, so a run interrupted by a
// crash is resumed (by `paperflow run --resume` or by any host) without
// redoing a finished block or publishing an event twice.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/documents"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/retries"
)

// Options configure an Engine.
type Options struct {
	Bus       *bus.Bus
	Store     *bus.Store
	Plugins   pluginhost.Registry
	PublicURL string
	// Mail is the transport for Host.SendMail (an Outbox by default).
	Mail mail.Transport
	// MailFrom is the From address when a block sets none.
	MailFrom string
	Log      *slog.Logger
	// BatchSize is the number of items per block call (default 64).
	BatchSize int
	// Workers is the number of batches in flight per run (default 4).
	Workers int
	// MaxAttempts bounds how often an item is tried after retryable
	// failures before it fails (default 5).
	MaxAttempts int
	// Embedded are step blocks run inside the host, by `uses:` name,
	// instead of as plugin processes (embedding, benchmarks).
	Embedded map[string]sdk.Block
	// CallTimeout bounds one call to a block; a block that takes longer
	// counts as hung and is restarted (default 60s).
	CallTimeout time.Duration
	// ItemTimeout is how long a host may go silent before the items it
	// holds, and the reading of a source it holds, pass to another host
	// (default 30s). A host at work signals every ItemTimeout/4.
	ItemTimeout time.Duration
	// HostID names this host in source leases (default host name, pid
	// and a random suffix).
	HostID string
	// RetryDelay is the first delay before a retryable item is tried
	// again; it doubles per attempt (default 1s).
	RetryDelay time.Duration
	// DetailRetention is how long a completed run's per-item detail (its
	// checkpoints) is kept before it is compacted (default
	// DefaultDetailRetention), counted from the run's end or, if later,
	// the start of the last retry of its items. The engine compacts for as
	// long as the context given to New lasts.
	DetailRetention time.Duration
	// RetryPatience is how long an operator's retry of a run's items goes
	// on while its batches keep failing (NATS out of reach, a stream it
	// writes gone) before it gives up with the error and lets the run go
	// (default 2 minutes, as long as a run's workers wait).
	RetryPatience time.Duration
}

// DefaultItemRetry is how an item a block failed with a retryable error is
// tried again when Options do not say: five tries in all, handed back to
// the queue after 1s, 2s, 4s and 8s.
var DefaultItemRetry = retries.Policy{Initial: time.Second, Multiplier: 2, MaxAttempts: 5}

// itemRetry is DefaultItemRetry with the options' attempts and first delay.
func (o Options) itemRetry() retries.Policy {
	p := DefaultItemRetry
	p.Initial, p.MaxAttempts = o.RetryDelay, o.MaxAttempts
	return p
}

// Engine runs workflows and provides the Host services to their blocks.
type Engine struct {
	opts      Options
	log       *slog.Logger
	validator *events.Validator
	publisher *events.Publisher
	docs      *documents.Store
	mailFrom  string
	domain    string
	catalog   *pluginhost.Catalog
	hostID    string
	// active holds the ids of runs this engine works on, so a host never
	// joins a run twice.
	active   sync.Map
	mailKeys mailKeys
	// chunksQueued, set by tests, is called once a feed's chunks are
	// acknowledged by NATS, before the run record counts them: last is
	// the last item queued, final whether the source has ended. A host
	// that dies there leaves chunks queued that the record does not
	// know of.
	chunksQueued func(last int64, final bool)
}

// New prepares an engine on an open bus.
func New(ctx context.Context, o Options) (*Engine, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = 64
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultItemRetry.MaxAttempts
	}
	if o.ItemTimeout <= 0 {
		o.ItemTimeout = 30 * time.Second
	}
	if o.HostID == "" {
		name, _ := os.Hostname()
		o.HostID = fmt.Sprintf("%s-%d-%s", name, os.Getpid(), NewRunID()[16:])
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = DefaultItemRetry.Initial
	}
	if o.RetryPatience <= 0 {
		o.RetryPatience = maxStall
	}
	if o.DetailRetention <= 0 {
		o.DetailRetention = DefaultDetailRetention
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Store == nil {
		s, err := o.Bus.EnsureStore(ctx)
		if err != nil {
			return nil, err
		}
		o.Store = s
	}
	if _, err := events.EnsureStream(ctx, o.Bus.JS, o.Bus.Replicas, bus.DuplicateWindow); err != nil {
		return nil, err
	}
	v, err := events.NewValidator()
	if err != nil {
		return nil, fmt.Errorf("event schemas: %w", err)
	}
	docs, err := documents.Open(ctx, o.Bus.JS, o.Store.Documents, o.Store.HostKV, o.PublicURL)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		opts: o, log: o.Log, validator: v, publisher: events.NewPublisher(o.Bus.JS, v), docs: docs, mailFrom: o.MailFrom,
		catalog: &pluginhost.Catalog{Registry: o.Plugins, Log: o.Log}, hostID: o.HostID,
	}
	if u, err := url.Parse(o.PublicURL); err == nil && u.Hostname() != "" {
		e.domain = u.Hostname()
	}
	if e.mailFrom == "" {
		e.mailFrom = "paperflow <noreply@" + orDefault(e.domain, "paperflow.localhost") + ">"
	}
	return e, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Catalog describes the installed blocks.
func (e *Engine) Catalog() *pluginhost.Catalog { return e.catalog }

func (e *Engine) describe(ctx context.Context, uses string) (pluginhost.Description, error) {
	return e.catalog.Describe(ctx, uses)
}

// Store is the engine's streams, buckets and object stores, for the
// packages that keep their own records there (deployed workflows).
func (e *Engine) Store() *bus.Store { return e.opts.Store }

// Documents is the document store, for the HTTP server.
func (e *Engine) Documents() *documents.Store { return e.docs }

// Validator is the event validator.
func (e *Engine) Validator() *events.Validator { return e.validator }

var _ pluginhost.Services = (*Engine)(nil)

// PutDocument stores a block's document.
func (e *Engine) PutDocument(ctx context.Context, name, mimetype string, data []byte) (sdk.Document, error) {
	return e.docs.Put(ctx, name, mimetype, data)
}

// GetDocument loads a stored document.
func (e *Engine) GetDocument(ctx context.Context, id string) (sdk.Document, []byte, error) {
	return e.docs.Get(ctx, id)
}

// DocumentURL signs a fresh link.
func (e *Engine) DocumentURL(id string, ttl time.Duration) (string, error) {
	return e.docs.URLFor(context.Background(), id, ttl)
}

// State is the bucket of block state.
func (e *Engine) State() jetstream.KeyValue { return e.opts.Store.State }

// SendMail builds and sends a message once per idempotency key. When the
// record of an earlier send cannot be read it sends nothing and returns
// a temporary error (its text carries mail.TemporaryMarker), so the
// block retries the item later instead of sending the message twice.
func (e *Engine) SendMail(ctx context.Context, m sdk.Mail) (string, error) {
	var rec mailRecord
	if m.IdempotencyKey != "" {
		rec = mailRecordOf(m.IdempotencyKey)
		id, ok, err := e.sentMail(ctx, rec)
		if err != nil {
			return "", err
		}
		if ok {
			return id, nil
		}
	}
	msg := mail.Message{From: orDefault(m.From, e.mailFrom), ReplyTo: m.ReplyTo, To: m.To, Cc: m.Cc, Bcc: m.Bcc, Subject: m.Subject, Text: m.Text, HTML: m.HTML, IDSeed: m.IdempotencyKey}
	for _, a := range m.Attachments {
		d, data, err := e.docs.Get(ctx, a.DocumentID)
		if err != nil {
			return "", fmt.Errorf("attachment %s: %w", a.DocumentID, err)
		}
		msg.Attachments = append(msg.Attachments, mail.File{Name: orDefault(a.Filename, d.Name), Mimetype: d.Mimetype, Data: data})
	}
	built, err := mail.Build(msg, e.domain, time.Now())
	if err != nil {
		return "", err
	}
	if err := e.opts.Mail.Send(ctx, built); err != nil {
		return "", err
	}
	if m.IdempotencyKey != "" {
		e.recordSent(ctx, rec, m.IdempotencyKey, built.MessageID)
	}
	return built.MessageID, nil
}

// recordSentTimeout bounds recording a sent message once the caller has
// gone (Ctrl-C): long enough for NATS to answer, short enough not to
// hold a stopping process.
const recordSentTimeout = 10 * time.Second

// recordSent remembers that the message for an idempotency key went out.
// The message has left by now, so the record must not depend on the
// caller's context: an interrupt between the transport's OK and this
// write would otherwise have the redo send it a second time. If NATS
// refuses the write the message is still reported sent (the block's
// checkpoint then keeps the step from running again), and the key is
// logged at Error so an operator can tell a later duplicate apart.
func (e *Engine) recordSent(ctx context.Context, rec mailRecord, idempotencyKey, messageID string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordSentTimeout)
	defer cancel()
	if err := e.storeSent(rctx, rec, messageID); err != nil {
		e.log.Error("record sent mail: a redo of this item may send it again", "idempotency_key", idempotencyKey, "message_id", messageID, "err", err)
	}
}

// Emit publishes an event a block raises outside Process.
func (e *Engine) Emit(ctx context.Context, in pluginhost.Instance, runID, itemID string, ev sdk.EventData) (string, error) {
	t, err := events.ParseType(ev.Type)
	if err != nil {
		return "", err
	}
	_, raw, err := events.New(events.Metadata{Workflow: in.Workflow, RunID: runID, ItemID: itemID, BlockID: in.BlockID, CreatedAt: time.Now().UTC(), Key: ev.Key}, t, json.RawMessage(ev.Data))
	if err != nil {
		return "", err
	}
	return e.publisher.Publish(ctx, raw)
}

// scheduled is a pending callback in the schedules stream.
type scheduled struct {
	Workflow string `json:"workflow"`
	Block    string `json:"block"`
	Key      string `json:"key"`
	At       int64  `json:"at_unix_ms"`
	Payload  []byte `json:"payload,omitempty"`
}

// Schedule queues a callback; the same key is registered once.
func (e *Engine) Schedule(ctx context.Context, in pluginhost.Instance, key string, at time.Time, payload []byte) error {
	raw, err := json.Marshal(scheduled{Workflow: in.Workflow, Block: in.BlockID, Key: key, At: at.UnixMilli(), Payload: payload})
	if err != nil {
		return err
	}
	msg := nats.NewMsg(bus.SchedulesSubject(in.Workflow, in.BlockID))
	msg.Data = raw
	sum := sha256.Sum256([]byte(in.Workflow + "\x00" + in.BlockID + "\x00" + key))
	msg.Header.Set(jetstream.MsgIDHeader, hex.EncodeToString(sum[:]))
	if _, err := e.opts.Bus.JS.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("schedule %s: %w", key, err)
	}
	return nil
}
