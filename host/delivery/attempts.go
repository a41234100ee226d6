package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Attempt is one record of the attempt log: one delivery attempt of one
// event to one sink. The log stores the attempts of one batch together, as
// a JSON array per message on AttemptSubject(workflow, sink).
type Attempt struct {
	Time      time.Time `json:"time"`
	Workflow  string    `json:"workflow"` // the sink's workflow, AllWorkflows for subscriptions
	Sink      string    `json:"sink"`
	EventID   string    `json:"event_id"`
	EventType string    `json:"event_type"`
	// Attempt counts deliveries of this event to this sink, from 1 (a
	// replay counts afresh).
	Attempt uint64 `json:"attempt"`
	// Status is delivered, retry, failed, skipped or error (the sink
	// itself could not be called).
	Status string `json:"status"`
	// HTTPStatus, Response and LatencyMS come from the sink's report when
	// it gives one (the webhook block does); otherwise LatencyMS is the
	// batch's.
	HTTPStatus int     `json:"http_status,omitempty"`
	LatencyMS  float64 `json:"latency_ms"`
	Response   string  `json:"response,omitempty"`
	Reason     string  `json:"reason,omitempty"`
	// NextAttempt is when a retry is due.
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	// DeadLettered is set on the attempt after which the event went to the
	// dead letters.
	DeadLettered bool `json:"dead_lettered,omitempty"`
	Replay       bool `json:"replay,omitempty"`
	// Seq is the event's sequence in PAPERFLOW_EVENTS (in PAPERFLOW_REPLAYS
	// for a replay).
	Seq uint64 `json:"seq"`
}

// report is the structured Reason a sink may return: a JSON object with
// these keys (plugins/websend writes it). Any other Reason is text.
type report struct {
	Reason     string  `json:"reason"`
	HTTPStatus int     `json:"http_status"`
	Response   string  `json:"response"`
	LatencyMS  float64 `json:"latency_ms"`
}

// parseReason reads a sink's Reason: structured when it is a JSON object.
func parseReason(s string) (report, bool) {
	var r report
	if strings.HasPrefix(s, "{") && json.Unmarshal([]byte(s), &r) == nil {
		return r, true
	}
	return report{Reason: s}, false
}

// maxReason bounds a reason kept in the log and in dead-letter headers.
const maxReason = 1024

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// AttemptQuery selects attempt records.
type AttemptQuery struct {
	// Sink is "workflow/sink" (AllWorkflows/sub-<id> for a subscription);
	// empty: every sink.
	Sink string
	// EventID keeps only the attempts of one event.
	EventID string
	// Since is the oldest record to read (default: 24 hours ago; zero with
	// an EventID: everything kept).
	Since time.Time
	// Limit keeps the newest Limit records (default 100).
	Limit int
}

// Attempts reads the attempt log, oldest first.
func Attempts(ctx context.Context, js jetstream.JetStream, q AttemptQuery) ([]Attempt, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	subject := "paperflow.attempts.>"
	if q.Sink != "" {
		wf, sink, ok := strings.Cut(q.Sink, "/")
		if !ok || wf == "" || sink == "" {
			return nil, fmt.Errorf("sink %q: want workflow/sink, e.g. invoices/notify", q.Sink)
		}
		subject = AttemptSubject(wf, sink)
	}
	oc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy}
	since := q.Since
	if since.IsZero() && q.EventID == "" {
		since = time.Now().Add(-24 * time.Hour)
	}
	if !since.IsZero() {
		oc.DeliverPolicy, oc.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	var out []Attempt
	err := scan(ctx, js, AttemptsStream, oc, func(m jetstream.Msg) bool {
		for _, a := range decodeAttempts(m.Data()) {
			if q.EventID != "" && a.EventID != q.EventID {
				continue
			}
			out = append(out, a)
		}
		if len(out) > 2*q.Limit {
			out = append(out[:0], out[len(out)-q.Limit:]...)
		}
		return true
	})
	if len(out) > q.Limit {
		out = out[len(out)-q.Limit:]
	}
	return out, err
}

// decodeAttempts reads one message of the attempt log: a JSON array of
// attempts (or a single attempt object).
func decodeAttempts(data []byte) []Attempt {
	if len(data) > 0 && data[0] == '{' {
		var a Attempt
		if json.Unmarshal(data, &a) != nil {
			return nil
		}
		return []Attempt{a}
	}
	var as []Attempt
	_ = json.Unmarshal(data, &as)
	return as
}

// scan reads a stream with an ordered consumer until it has seen every
// message stored when it started (or fn returns false). fn sees only the
// messages on oc.FilterSubjects, whatever filter the server can apply.
func scan(ctx context.Context, js jetstream.JetStream, stream string, oc jetstream.OrderedConsumerConfig, fn func(jetstream.Msg) bool) error {
	filter := filterFor(js.Conn(), oc.FilterSubjects)
	oc.FilterSubjects = filter.server
	cons, err := js.OrderedConsumer(ctx, stream, oc)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil
		}
		return fmt.Errorf("read %s: %w", stream, err)
	}
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(250*time.Millisecond))
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		n, pending := 0, uint64(0)
		for m := range batch.Messages() {
			n++
			if md, err := m.Metadata(); err == nil {
				pending = md.NumPending
			}
			if filter.takes(m.Subject()) && !fn(m) {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		if n == 0 || pending == 0 {
			return nil
		}
	}
}
