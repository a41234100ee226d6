package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// AttemptsOf reads the attempt log for the events in eventIDs (the events
// of one item), oldest first, in one pass over the log from since: a page
// showing an item's deliveries asks once, not once per event.
func AttemptsOf(ctx context.Context, js jetstream.JetStream, eventIDs []string, since time.Time) (map[string][]Attempt, error) {
	out := map[string][]Attempt{}
	if len(eventIDs) == 0 {
		return out, nil
	}
	want := make(map[string]bool, len(eventIDs))
	for _, id := range eventIDs {
		want[id] = true
	}
	oc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{"paperflow.attempts.>"}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if !since.IsZero() {
		oc.DeliverPolicy, oc.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	err := scan(ctx, js, AttemptsStream, oc, func(m jetstream.Msg) bool {
		for _, a := range decodeAttempts(m.Data()) {
			if want[a.EventID] {
				out[a.EventID] = append(out[a.EventID], a)
			}
		}
		return true
	})
	return out, err
}

// ReplayDeadLetter queues the dead letter at stream sequence seq for
// delivery again to its sink and removes it from the dead letters.
func ReplayDeadLetter(ctx context.Context, js jetstream.JetStream, seq uint64) (DeadLetter, error) {
	stream, err := js.Stream(ctx, DeadLettersStream)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letters: %w", err)
	}
	m, err := stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, fmt.Errorf("dead letter %d: not found (replayed already?)", seq)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	h := m.Header
	d := DeadLetter{Seq: m.Sequence, Time: m.Time, Workflow: h.Get(HeaderWorkflow), Sink: h.Get(HeaderSink),
		EventID: h.Get(HeaderEventID), EventType: h.Get(HeaderEventType), Reason: h.Get(HeaderReason)}
	if err := queueReplay(ctx, js, d.Workflow, d.Sink, d.EventID, d.EventType, h.Get(HeaderSubject), m.Data); err != nil {
		return d, err
	}
	if err := stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return d, fmt.Errorf("dead letter %d (event %s) was queued but not removed: %w", seq, d.EventID, err)
	}
	return d, nil
}
