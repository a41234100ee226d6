package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	evstream "github.com/paperflow/paperflow/host/events"
)

// ErrEventNotFound: no event with that id is kept in PAPERFLOW_EVENTS.
var ErrEventNotFound = errors.New("event not found")

// Replay queues the event eventID for delivery again to every sink whose
// consumer takes it, or only to the sinks named in only ("workflow/sink").
// The event goes through the sink's retries and attempt log as if new. It
// returns the refs of the sinks it was queued for.
func Replay(ctx context.Context, js jetstream.JetStream, eventID string, only ...string) ([]string, error) {
	msg, err := findEvent(ctx, js, eventID)
	if err != nil {
		return nil, err
	}
	sinks, err := sinksFor(ctx, js, msg.Subject)
	if err != nil {
		return nil, err
	}
	var queued []string
	for _, ref := range sinks {
		if len(only) > 0 && !slices.Contains(only, ref) {
			continue
		}
		wf, sink, _ := strings.Cut(ref, "/")
		typ := msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:]
		if err := queueReplay(ctx, js, wf, sink, eventID, typ, msg.Subject, msg.Data); err != nil {
			return queued, err
		}
		queued = append(queued, ref)
	}
	if len(queued) == 0 {
		if len(only) > 0 {
			return nil, fmt.Errorf("event %s: none of %s takes events on %s (sinks that do: %s)", eventID, strings.Join(only, ", "), msg.Subject, orNone(sinks))
		}
		return nil, fmt.Errorf("event %s: no sink takes events on %s", eventID, msg.Subject)
	}
	return queued, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// findEvent looks the event up by its id (its Nats-Msg-Id), reading only
// headers.
func findEvent(ctx context.Context, js jetstream.JetStream, eventID string) (*jetstream.RawStreamMsg, error) {
	if eventID == "" || strings.ContainsAny(eventID, " \t\r\n") {
		return nil, fmt.Errorf("event id %q: want the eventId of an event", eventID)
	}
	var seq uint64
	err := scan(ctx, js, evstream.StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{evstream.SubjectAll}, DeliverPolicy: jetstream.DeliverAllPolicy, HeadersOnly: true,
	}, func(m jetstream.Msg) bool {
		if m.Headers().Get(jetstream.MsgIDHeader) != eventID {
			return true
		}
		if md, err := m.Metadata(); err == nil {
			seq = md.Sequence.Stream
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	if seq == 0 {
		return nil, fmt.Errorf("%w: %s (events are kept in %s; check the id with `paperflow webhooks deliveries`)", ErrEventNotFound, eventID, evstream.StreamName)
	}
	s, err := js.Stream(ctx, evstream.StreamName)
	if err != nil {
		return nil, err
	}
	return s.GetMsg(ctx, seq)
}

// sinksFor lists the refs of the sinks whose consumer takes subject.
func sinksFor(ctx context.Context, js jetstream.JetStream, subject string) ([]string, error) {
	s, err := js.Stream(ctx, evstream.StreamName)
	if err != nil {
		return nil, err
	}
	var out []string
	list := s.ListConsumers(ctx)
	for info := range list.Info() {
		ref, filters := sinkOf(info.Config)
		if ref == "" {
			continue
		}
		for _, f := range filters {
			if subjectMatches(f, subject) {
				out = append(out, ref)
				break
			}
		}
	}
	if err := list.Err(); err != nil {
		return nil, fmt.Errorf("list sinks: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

// queueReplay puts an event on a sink's replay queue, provided the sink
// has a replay consumer (otherwise nothing would ever take it).
func queueReplay(ctx context.Context, js jetstream.JetStream, workflow, sink, eventID, typ, subject string, data []byte) error {
	if _, err := js.Consumer(ctx, ReplaysStream, consumerName(workflow, sink)); err != nil {
		return fmt.Errorf("sink %s/%s has no replay queue (is it still part of a workflow or a subscription?): %w", workflow, sink, err)
	}
	msg := nats.NewMsg(ReplaySubject(workflow, sink))
	msg.Data = data
	msg.Header.Set(HeaderEventID, eventID)
	msg.Header.Set(HeaderEventType, typ)
	msg.Header.Set(HeaderSubject, subject)
	msg.Header.Set(jetstream.MsgIDHeader, "replay."+nuid.Next())
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("queue replay of %s for %s/%s: %w", eventID, workflow, sink, err)
	}
	return nil
}

// DeadLetter is an event a sink gave up on.
type DeadLetter struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Workflow  string    `json:"workflow"`
	Sink      string    `json:"sink"`
	EventID   string    `json:"event_id"`
	EventType string    `json:"event_type"`
	Attempts  uint64    `json:"attempts"`
	Reason    string    `json:"reason"`
}

// Ref is the sink's "workflow/sink".
func (d DeadLetter) Ref() string { return d.Workflow + "/" + d.Sink }

func deadLetterFilter(only []string) ([]string, error) {
	if len(only) == 0 {
		return []string{"paperflow.deadletters.>"}, nil
	}
	var out []string
	for _, ref := range only {
		wf, sink, ok := strings.Cut(ref, "/")
		if !ok || wf == "" || sink == "" {
			return nil, fmt.Errorf("sink %q: want workflow/sink, e.g. invoices/notify", ref)
		}
		out = append(out, DeadLetterSubject(wf, sink))
	}
	return out, nil
}

func deadLetterOf(m jetstream.Msg) DeadLetter {
	h := m.Headers()
	d := DeadLetter{
		Workflow: h.Get(HeaderWorkflow), Sink: h.Get(HeaderSink), EventID: h.Get(HeaderEventID),
		EventType: h.Get(HeaderEventType), Reason: h.Get(HeaderReason),
	}
	d.Attempts, _ = strconv.ParseUint(h.Get(HeaderAttempts), 10, 64)
	if md, err := m.Metadata(); err == nil {
		d.Seq, d.Time = md.Sequence.Stream, md.Timestamp
	}
	return d
}

// DeadLetters lists the dead letters, of every sink or of the sinks in
// only ("workflow/sink"), oldest first.
func DeadLetters(ctx context.Context, js jetstream.JetStream, only ...string) ([]DeadLetter, error) {
	filter, err := deadLetterFilter(only)
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	err = scan(ctx, js, DeadLettersStream, jetstream.OrderedConsumerConfig{FilterSubjects: filter, DeliverPolicy: jetstream.DeliverAllPolicy, HeadersOnly: true},
		func(m jetstream.Msg) bool { out = append(out, deadLetterOf(m)); return true })
	return out, err
}

// ReplayDeadLetters queues every dead letter (of the sinks in only, or of
// all) for delivery again and removes it from the dead letters. A dead
// letter whose sink no longer exists stays, and is reported in the error.
// It returns how many were queued.
func ReplayDeadLetters(ctx context.Context, js jetstream.JetStream, only ...string) (int, error) {
	filter, err := deadLetterFilter(only)
	if err != nil {
		return 0, err
	}
	stream, err := js.Stream(ctx, DeadLettersStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	err = scan(ctx, js, DeadLettersStream, jetstream.OrderedConsumerConfig{FilterSubjects: filter, DeliverPolicy: jetstream.DeliverAllPolicy},
		func(m jetstream.Msg) bool {
			d := deadLetterOf(m)
			if err := queueReplay(ctx, js, d.Workflow, d.Sink, d.EventID, d.EventType, m.Headers().Get(HeaderSubject), m.Data()); err != nil {
				errs = append(errs, fmt.Errorf("dead letter %d (event %s): %w", d.Seq, d.EventID, err))
				return ctx.Err() == nil
			}
			if err := stream.DeleteMsg(ctx, d.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				errs = append(errs, fmt.Errorf("dead letter %d (event %s) was queued but not removed: %w", d.Seq, d.EventID, err))
			}
			n++
			return true
		})
	if err != nil {
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}
