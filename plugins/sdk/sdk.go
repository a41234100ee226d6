// Package sdk is the one package a paperflow block author imports.
//
// A block is a separate program that the paperflow host starts as a
// hashicorp/go-plugin process and talks to over gRPC. Its main function is
// one line, handing Serve a constructor of unconfigured blocks:
//
//	func main() { sdk.Serve(func() sdk.Block { return &myBlock{} }) }
//
// # Lifecycle
//
// Every block goes through the same steps, in this order:
//
//  1. Describe: the host asks for the block's name, kind, version, the JSON
//     Schema of its `with:` configuration and the event types it emits.
//  2. Configure: the host hands over the block's `with:` (already validated
//     against that schema) and a Host handle for documents, KV state, mail,
//     events, schedules and logs. One process serves every instance of the
//     block in its host (each workflow and block id that uses it): Serve
//     makes a new value with the constructor for each instance and
//     configures it once, so one value is one configured instance. Calls
//     for different instances run concurrently; state shared between them
//     (package variables) must be safe for that, and should be read-only.
//  3. Use: Read (a Source), Process (a Step) or Deliver (a Sink), called in
//     batches; ServeHTTP when the block implements http.Handler; Scheduled
//     when the block implements Scheduler.
//  4. Release: the host drops an instance it is done with. The process is
//     killed when its last instance is released, or restarted by the host's
//     supervisor after a crash or a hang, after which every instance is
//     configured again (a new value) before its next call. A block
//     therefore keeps no state of its own: whatever must survive goes
//     through Host.KV. The process also exits by itself when its host is
//     gone, even if the host was killed.
//
// # Manifest
//
// What Describe returns is best kept as data: a manifest file beside the
// block's code, block.json by convention, with the block's name, kind,
// description, events and the JSON Schema of its `with:` as a JSON object
// that editors check. The block embeds it and package manifest turns it,
// with the version kept in Go, into the Descriptor, checking it on the way
// (a known kind, event types of package events, a schema that is an
// object):
//
//	//go:embed block.json
//	var blockJSON []byte
//
//	var descriptor = manifest.MustParse(blockJSON, version)
//
//	func (*Block) Describe() sdk.Descriptor { return descriptor }
//
// A Describe that builds its Descriptor in Go works as well.
//
// Item values are data. A block never evaluates text that came from an item
// as a template or as code.
package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Kind says where a block sits in a workflow.
type Kind string

const (
	// KindSource produces the items of a run (CSV rows, JSON records).
	KindSource Kind = "source"
	// KindStep transforms each item and may emit events.
	KindStep Kind = "step"
	// KindSink consumes the events of its workflow (e.g. webhook delivery).
	KindSink Kind = "sink"
)

// Descriptor is what a block says about itself; the host uses it for
// validation (ConfigSchema), documentation and `paperflow plugins`.
type Descriptor struct {
	Name        string
	Kind        Kind
	Version     string
	Description string
	// ConfigSchema is the JSON Schema of the block's `with:` object.
	// Properties with "format": "file-path" must name an existing file
	// (relative to the workflow file) and "format": "block-ref" an earlier
	// block id; the host checks both at validate time.
	ConfigSchema json.RawMessage
	// Events lists the event types a step emits or a sink accepts.
	Events []string
}

// Config is the configuration of one block instance.
type Config struct {
	Workflow string
	BlockID  string
	// With is the block's `with:` as JSON. Strings holding tags are left
	// unresolved here; their per-item values arrive in Item.Config.
	With json.RawMessage
	// WorkflowDir is the directory of the workflow file; relative paths in
	// With resolve against it.
	WorkflowDir string
	// PublicURL is the base URL of the host's HTTP server, for links.
	PublicURL string
	// Settings are what the host operator configured for blocks, keyed by
	// the Setting names below. They arrive here rather than in the block's
	// environment, so a block process serves hosts configured differently
	// and a test sets them without touching the process.
	Settings map[string]string
	// Host gives the block documents, state, mail, events and logs.
	Host Host
}

// Host settings a block may find in Config.Settings. An unset setting is
// absent or empty.
const (
	// SettingWebhookAllow lists the CIDRs of private addresses webhooks may
	// reach (paperflow --webhook-allow), separated by commas.
	SettingWebhookAllow = "webhook_allow"
	// SettingSigningCert is the absolute path of the PEM file (certificate,
	// chain, key) that seals signed PDFs (paperflow --signing-cert).
	SettingSigningCert = "signing_cert"
)

// Decode unmarshals With into v.
func (c Config) Decode(v any) error {
	if len(c.With) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.With, v); err != nil {
		return fmt.Errorf("block %s: decode with: %w", c.BlockID, err)
	}
	return nil
}

// Block is implemented by every block; one of Source, Step or Sink adds
// the work itself.
type Block interface {
	Describe() Descriptor
	Configure(ctx context.Context, c Config) error
}

// ReadRequest says which run a source reads for.
type ReadRequest struct {
	RunID string
	// Skip is the number of items a previous attempt of this run already
	// read; a source skips them (the host deduplicates the rest).
	Skip int64
}

// Source produces items. Read calls emit with batches of items in source
// order and returns when the source is exhausted. A malformed record is
// not a Read error: emit it as an Item with Err set, and go on.
type Source interface {
	Block
	Read(ctx context.Context, req ReadRequest, emit func([]Item) error) error
}

// Step processes a batch of items and returns one Result per item, in
// the same order. A failure of one item is that item's Result.Err, never a
// failure of the batch.
type Step interface {
	Block
	Process(ctx context.Context, items []Item) []Result
}

// Sink receives the events of its workflow in batches and returns one
// Delivery per event, in the same order.
type Sink interface {
	Block
	Deliver(ctx context.Context, events []Event) []Delivery
}

// PolicySink is a Sink that tells the host, once configured, which event
// types to feed it and how to retry a failed delivery, as it read them from
// its own configuration: the host builds the sink's consumer and retry
// schedule from SinkPolicy, which it asks for after every Configure. A sink
// that is not a PolicySink gets every event type on the host's default
// schedule.
type PolicySink interface {
	Sink
	SinkPolicy() SinkPolicy
}

// SinkPolicy is what a sink asks of the host.
type SinkPolicy struct {
	// Events are the event types to hand the sink; empty: every type.
	Events []string
	// Retry are the waits after the first, second, … failed delivery of an
	// event; after the last, the event is dead-lettered. Empty: the host's
	// default schedule. The host retries by the retries.Policy with these
	// Waits (and its jitter); retries.ParseWaits reads them as a with:
	// writes them, e.g. retry: [1m, 5m].
	Retry []time.Duration
}

// Router is implemented by blocks that serve pages or callbacks. The host
// mounts the handler under /blocks/<workflow>/<block>/ on its HTTP server;
// r.URL.Path is the path below that prefix.
type Router interface {
	http.Handler
}

// hostCallKey marks the context of a request the host made itself.
type hostCallKey struct{}

// HostCall reports whether r comes from the host itself (the paperflow CLI
// asking the block) rather than through the public HTTP server. The host's
// proxy never sets it, so a route that answers only when HostCall is true
// cannot be reached from a browser: use it for operator routes such as
// listing requests or resending links.
func HostCall(r *http.Request) bool {
	v, _ := r.Context().Value(hostCallKey{}).(bool)
	return v
}

// WithHostCall marks a request as coming from the host, for the in-memory
// harnesses that call a Router directly.
func WithHostCall(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), hostCallKey{}, true))
}

// Scheduler is implemented by blocks that registered callbacks with
// Host.Schedule (reminders, expiry). Each registration fires once.
type Scheduler interface {
	Scheduled(ctx context.Context, key string, payload []byte) error
}

// Item is one source item as a block sees it. Fields, earlier outputs and
// the resolved config travel as JSON and are decoded on demand, so a block
// that does not look at them pays nothing.
type Item struct {
	ID     string
	RunID  string
	Origin string // where the item came from, e.g. "people.csv:12"
	// RawFields is the item's fields as a JSON object.
	RawFields json.RawMessage
	// RawBlocks holds earlier blocks' outputs, keyed by block id.
	RawBlocks json.RawMessage
	// RawConfig is the block's `with:` resolved for this item; nil when it
	// has no tags (then Config.With applies as is).
	RawConfig json.RawMessage
	// Err is set by a source for a record it could not read.
	Err string
}

// NewItem builds a source item from a field map.
func NewItem(origin string, fields map[string]any) (Item, error) {
	raw, err := json.Marshal(fields)
	if err != nil {
		return Item{}, fmt.Errorf("item %s: encode fields: %w", origin, err)
	}
	return Item{Origin: origin, RawFields: raw}, nil
}

// Fields decodes the item's fields.
func (it Item) Fields() (map[string]any, error) {
	return decodeObject(it.RawFields, "fields")
}

// Blocks decodes earlier blocks' outputs, keyed by block id.
func (it Item) Blocks() (map[string]any, error) {
	return decodeObject(it.RawBlocks, "blocks")
}

// DecodeConfig unmarshals the block configuration for this item into v:
// the per-item resolved one when present, otherwise the configured one.
func (it Item) DecodeConfig(configured json.RawMessage, v any) error {
	raw := it.RawConfig
	if len(raw) == 0 {
		raw = configured
	}
	if len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("item %s: decode config: %w", it.ID, err)
	}
	return nil
}

func decodeObject(raw json.RawMessage, what string) (map[string]any, error) {
	out := map[string]any{}
	if len(raw) == 0 {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode %s: %w", what, err)
	}
	return out, nil
}

// Document is a file stored by the host (in the NATS object store), passed
// between blocks by id.
type Document struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Mimetype string `json:"mimetype"`
	URL      string `json:"url,omitempty"`
	Size     int64  `json:"size,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
}

// EventData is an event a step emits for an item: the host wraps it in
// the envelope, gives it its deterministic id, validates it against the
// type's JSON Schema and publishes it.
type EventData struct {
	Type string
	Data json.RawMessage
	// Key tells apart events of one type that a block emits for the same
	// item (one per recipient): when set, it is part of the event id, so
	// they are not dropped as duplicates of each other. Leave it empty when
	// the item has one event of the type.
	Key string
}

// NewEvent marshals data into an EventData.
func NewEvent(eventType string, data any) (EventData, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return EventData{}, fmt.Errorf("event %s: encode data: %w", eventType, err)
	}
	return EventData{Type: eventType, Data: raw}, nil
}

// Result is what a step made of one item.
type Result struct {
	// Outputs are visible to later blocks as {{blocks.<id>.<key>}}.
	Outputs   map[string]any
	Documents []Document
	Events    []EventData
	// Err fails the item at this block. Wrap it with Retryable when trying
	// again may help (a timeout, a 4xx from a mail server).
	Err error
	// Skipped means the block chose not to act (a send rule did not match).
	Skipped bool
}

// Error is a block error that says whether a retry may help.
type Error struct {
	Message   string
	Retryable bool
	err       error
}

func (e *Error) Error() string { return e.Message }

// Retryable marks err as transient: the host retries the item with backoff.
func Retryable(err error) error {
	return &Error{Message: err.Error(), Retryable: true, err: err}
}

// Unwrap gives errors.Is and errors.As the error Retryable wrapped.
func (e *Error) Unwrap() error { return e.err }

// Event is one published event handed to a sink.
type Event struct {
	ID   string
	Type string
	// Envelope is the event exactly as published.
	Envelope json.RawMessage
	// Attempt counts deliveries of this event to this sink, from 1.
	Attempt uint64
}

// DeliveryStatus is a sink's verdict on one event.
type DeliveryStatus int

const (
	// Delivered: done, never again.
	Delivered DeliveryStatus = iota + 1
	// Retry: try again later (after RetryAfter, or the host's schedule).
	Retry
	// Failed: give up; the host dead-letters the event.
	Failed
	// Skipped: the sink does not want this event (filtered out).
	Skipped
)

// Delivery is the outcome of delivering one event.
type Delivery struct {
	Status DeliveryStatus
	// RetryAfter is the earliest next attempt for Retry (0: host schedule).
	RetryAfter time.Duration
	Reason     string
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// ProcessEach runs one per item with at most parallel items at once and
// returns the results in item order: the body of most steps' Process.
func ProcessEach(ctx context.Context, items []Item, parallel int, one func(context.Context, Item) Result) []Result {
	out := make([]Result, len(items))
	// Up to parallel workers take the items in turn. A goroutine per
	// item would grow a new stack for each (decoding JSON and calling the
	// host go deep): copying stacks was a tenth of the email block's CPU.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(parallel, 1), len(items)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(items); i = int(next.Add(1) - 1) {
				out[i] = one(ctx, items[i])
			}
		})
	}
	wg.Wait()
	return out
}
