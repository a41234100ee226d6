package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/documents/origin"
	"github.com/paperflow/paperflow/host/metrics"
)

// Publisher validates events and publishes them to the PAPERFLOW_EVENTS
// stream. Each message carries its event id as Nats-Msg-Id, so within the
// stream's duplicate window a retried or resumed publish is stored once.
// A Publisher is safe for concurrent use.
//
// Publishing an event whose block made its documents (DOCUMENTS_CREATED,
// SIGNATURES_COMPLETED) also records, in the origins bucket, the run, item
// and block each document was made for (package origin), which is how the
// document store knows whose document a link fetches. That record is best
// effort: an error is logged, and the event is published all the same.
type Publisher struct {
	js      jetstream.JetStream
	v       *Validator
	origins *origin.Store
}

// NewPublisher returns a Publisher that publishes through js after checking
// every event with v. The stream must exist (see EnsureStream).
func NewPublisher(js jetstream.JetStream, v *Validator) *Publisher {
	return &Publisher{js: js, v: v, origins: origin.NewStore(js)}
}

// Publish validates raw and, if it is valid, publishes it on its Subject and
// waits for JetStream's ack. An invalid event is not published and the error
// matches ErrInvalid; any other error is a failure to publish, safe to retry
// because the id makes the retry a duplicate. A duplicate is not an error: the
// event is in the stream. The id is returned whenever the event was valid.
func (p *Publisher) Publish(ctx context.Context, raw []byte) (eventID string, err error) {
	h, err := p.v.check(raw)
	if err != nil {
		return "", err
	}
	msg := message(h, raw)
	ack, err := p.js.PublishMsg(ctx, msg)
	if err != nil {
		return h.id, fmt.Errorf("publish event %s (%s) on %s: %w", h.id, h.typ, msg.Subject, err)
	}
	count(msg, ack)
	p.recordOrigins(ctx, []header{h}, []error{nil})
	return h.id, nil
}

// PublishBatch is Publish for many events at once, the path blocks' batches
// take: it validates every event, publishes the valid ones without waiting in
// between, then waits for all their acks. It returns one error per event, in
// order, nil for each event now in the stream; invalid events are not
// published and their errors match ErrInvalid. If ctx has no deadline the
// JetStream context's default timeout bounds the wait; an event whose ack did
// not come in time may still be stored, and publishing it again is harmless.
// Events of one batch may be stored out of order, since the client retries
// some publishes on its own, so nothing may rely on their stream order.
// raws must not be modified until PublishBatch returns.
func (p *Publisher) PublishBatch(ctx context.Context, raws [][]byte) []error {
	errs := make([]error, len(raws))
	msgs := make([]*nats.Msg, len(raws))
	hs := make([]header, len(raws))
	for i, raw := range raws {
		h, err := p.v.check(raw)
		if err != nil {
			errs[i] = err
			continue
		}
		msgs[i], hs[i] = message(h, raw), h
	}
	p.publishAll(ctx, msgs, errs)
	p.recordOrigins(ctx, hs, errs)
	return errs
}

// PublishChecked is PublishBatch for events already validated with
// Validator.Check.
func (p *Publisher) PublishChecked(ctx context.Context, events []Checked) []error {
	errs := make([]error, len(events))
	msgs := make([]*nats.Msg, len(events))
	hs := make([]header, len(events))
	for i, c := range events {
		msgs[i], hs[i] = message(c.h, c.raw), c.h
	}
	p.publishAll(ctx, msgs, errs)
	p.recordOrigins(ctx, hs, errs)
	return errs
}

// recordOrigins records where the documents of the published events
// (errs[i] nil) were made, all at once (origin.Store.RecordAll), before
// the publish returns: a link handed out with the event already knows its
// item.
func (p *Publisher) recordOrigins(ctx context.Context, hs []header, errs []error) {
	var entries []origin.Entry
	for i, h := range hs {
		if errs[i] == nil {
			for _, id := range h.made {
				entries = append(entries, origin.Entry{ID: id, Origin: h.origin})
			}
		}
	}
	// On a bus without the bucket (it keeps only events) nothing is
	// recorded, and nothing is logged.
	err := p.origins.RecordAll(ctx, entries, func(e origin.Entry, err error) { warnOrigin(e.ID, e.Origin, err) })
	if err != nil && !errors.Is(err, origin.ErrNoBucket) {
		for _, e := range entries {
			warnOrigin(e.ID, e.Origin, err)
		}
	}
}

func warnOrigin(id string, o origin.Origin, err error) {
	slog.Warn("document origin not recorded: fetching it will raise no DOCUMENT_DOWNLOADED", "document", id, "run", o.RunID, "item", o.ItemID, "err", err)
}

// publishAll publishes msgs (nil entries skipped) without waiting in
// between, then waits for their acks, recording failures in errs.
func (p *Publisher) publishAll(ctx context.Context, msgs []*nats.Msg, errs []error) {

	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, msg := range msgs {
		if msg == nil {
			continue
		}
		f, err := p.js.PublishMsgAsync(msg)
		if err != nil {
			errs[i] = publishError(msg, err)
			continue
		}
		futures[i] = f
	}

	if _, ok := ctx.Deadline(); !ok {
		timeout := p.js.Options().DefaultTimeout
		if timeout <= 0 {
			timeout = 5 * time.Second // nats.go's own default
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	for i, f := range futures {
		if f != nil {
			errs[i] = waitAck(ctx, f)
		}
	}
}

// waitAck waits for f's ack. An ack that has already arrived wins over a
// context that has meanwhile ended, so a stored event is not reported failed.
func waitAck(ctx context.Context, f jetstream.PubAckFuture) error {
	var ack *jetstream.PubAck
	var err error
	select {
	case ack = <-f.Ok():
	case err = <-f.Err():
	default: // nothing yet: wait, now for ctx too
		select {
		case ack = <-f.Ok():
		case err = <-f.Err():
		case <-ctx.Done():
			err = fmt.Errorf("no ack: %w", ctx.Err())
		}
	}
	if err != nil {
		return publishError(f.Msg(), err)
	}
	count(f.Msg(), ack)
	return nil
}

// count records a stored event in paperflow_events_published_total; a
// duplicate JetStream dropped was counted when it was first stored.
func count(msg *nats.Msg, ack *jetstream.PubAck) {
	if ack != nil && ack.Duplicate {
		return
	}
	metrics.EventPublished(msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:])
}

func publishError(msg *nats.Msg, err error) error {
	return fmt.Errorf("publish event %s on %s: %w", msg.Header.Get(jetstream.MsgIDHeader), msg.Subject, err)
}

// message addresses a validated event: its subject, its id for JetStream's
// de-duplication, and the stream it must land in, so that a stream created
// by someone else on overlapping subjects makes the publish fail loudly.
func message(h header, raw []byte) *nats.Msg {
	return &nats.Msg{
		Subject: Subject(h.workflow, h.typ),
		Data:    raw,
		Header: nats.Header{
			jetstream.MsgIDHeader:          []string{h.id},
			jetstream.ExpectedStreamHeader: []string{StreamName},
		},
	}
}

// DefaultDuplicateWindow is how long JetStream remembers event ids when
// EnsureStream is given no window: long enough to cover a crashed host being
// restarted and its runs resumed. Older duplicates are left to the engine's
// per-item checkpoints and to subscribers, who de-duplicate by eventId.
const DefaultDuplicateWindow = time.Hour

// EnsureStream creates the PAPERFLOW_EVENTS stream on paperflow.events.>, or
// updates it to this configuration: file storage, limits retention (events are
// kept for every consumer, not removed once one has read them), the given
// duplicate window (DefaultDuplicateWindow when 0 or less) and replicas (at
// least 1). It is idempotent, so every host calls it at start-up. Because an
// update replaces the whole configuration, limits an operator set by hand
// (max age, max bytes) are reset to none.
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int, duplicateWindow time.Duration) (jetstream.Stream, error) {
	if replicas < 1 {
		replicas = 1
	}
	if duplicateWindow <= 0 {
		duplicateWindow = DefaultDuplicateWindow
	}
	cfg := jetstream.StreamConfig{
		Name:        StreamName,
		Description: "paperflow events, validated against schemas/events before publishing",
		Subjects:    []string{SubjectAll},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Duplicates:  duplicateWindow,
		Replicas:    replicas,
		// 4 MiB blocks instead of 8: less heap while it is written.
		MaxMsgsPerSubject: bus.SmallBlocks,
	}
	s, err := bus.EnsureStream(ctx, js, cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s (subjects %s, %d replicas): %w", StreamName, SubjectAll, replicas, err)
	}
	return s, nil
}
