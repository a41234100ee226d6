package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/events"
)

// Names of what delivery keeps in NATS, beside the events stream it reads.
const (
	// DeadLettersStream keeps events a sink gave up on, on
	// DeadLetterSubject(workflow, sink), until they are replayed.
	DeadLettersStream = "PAPERFLOW_DEAD_LETTERS"
	// AttemptsStream is the attempt log: one record per delivery attempt,
	// on AttemptSubject(workflow, sink).
	AttemptsStream = "PAPERFLOW_ATTEMPTS"
	// ReplaysStream is the work queue of events to deliver again, on
	// ReplaySubject(workflow, sink).
	ReplaysStream = "PAPERFLOW_REPLAYS"
	// SubscriptionsBucket is the KV bucket of webhook subscriptions.
	SubscriptionsBucket = "paperflow_webhooks"
	// AllWorkflows stands for "every workflow" where a subject needs a
	// workflow token (subscriptions). Workflow names start with a letter or
	// digit, so it cannot clash with one.
	AllWorkflows = "_all"
)

// Retention of the attempt log and of dead letters.
const (
	AttemptsMaxAge    = 30 * 24 * time.Hour
	AttemptsMaxBytes  = 1 << 30
	DeadLettersMaxAge = 90 * 24 * time.Hour
)

// DeadLetterSubject is where events given up by a sink are kept.
func DeadLetterSubject(workflow, sink string) string {
	return "paperflow.deadletters." + token(workflow) + "." + sink
}

// AttemptSubject is where a sink's attempts are logged.
func AttemptSubject(workflow, sink string) string {
	return "paperflow.attempts." + token(workflow) + "." + sink
}

// ReplaySubject is where events to deliver again to a sink wait.
func ReplaySubject(workflow, sink string) string {
	return "paperflow.replays." + token(workflow) + "." + sink
}

func token(workflow string) string {
	if workflow == "" {
		return AllWorkflows
	}
	return workflow
}

// Headers on dead letters and replays (the body is the envelope as
// published).
const (
	HeaderEventID   = "Paperflow-Event-Id"
	HeaderEventType = "Paperflow-Event-Type"
	HeaderWorkflow  = "Paperflow-Workflow"
	HeaderSink      = "Paperflow-Sink"
	HeaderSubject   = "Paperflow-Subject" // the event's subject on PAPERFLOW_EVENTS
	HeaderReason    = "Paperflow-Reason"
	HeaderAttempts  = "Paperflow-Attempts"
)

// Consumer metadata keys: they let replays find every sink of an event.
const (
	metaWorkflow = "paperflow.workflow"
	metaSink     = "paperflow.sink"
	// metaDisabled is "true" on the consumers of a disabled sink, so that
	// the host that enables it again knows there are held events to
	// deliver or, with backfill: false, to skip.
	metaDisabled = "paperflow.disabled"
)

// consumerName is the durable name of a sink's consumers (one on the
// events stream, one on the replays stream). Names may contain '-' and '_',
// so a hash keeps "a-b"/"c" apart from "a"/"b-c".
func consumerName(workflow, sink string) string {
	sum := sha256.Sum256([]byte(token(workflow) + "\x00" + sink))
	return "paperflow-sink-" + token(workflow) + "-" + sink + "-" + hex.EncodeToString(sum[:4])
}

// sinkDescription is the description of a sink's consumers. It names the
// sink and the event types it takes because a server older than 2.10 keeps
// neither consumer metadata nor several filter subjects, and Replay must
// still find the sinks of an event there (sinkOf reads it back).
func sinkDescription(t Target) string {
	d := "paperflow sink " + t.Ref()
	if len(t.Events) > 0 {
		d += "; events: " + strings.Join(t.Events, ", ")
	}
	return d
}

// sinkOf reads which sink a consumer on the events stream feeds ("" for a
// consumer that is not a sink's) and the event subjects it takes: from its
// metadata and filter on NATS 2.10 and later, from its description on an
// older server.
func sinkOf(cfg jetstream.ConsumerConfig) (ref string, subjects []string) {
	if sink := cfg.Metadata[metaSink]; sink != "" {
		subjects = cfg.FilterSubjects
		if cfg.FilterSubject != "" {
			subjects = []string{cfg.FilterSubject}
		}
		return cfg.Metadata[metaWorkflow] + "/" + sink, subjects
	}
	rest, ok := strings.CutPrefix(cfg.Description, "paperflow sink ")
	if !ok {
		return "", nil
	}
	ref, types, _ := strings.Cut(rest, "; events: ")
	wf, sink, ok := strings.Cut(ref, "/")
	if !ok || wf == "" || sink == "" {
		return "", nil
	}
	var list []string
	if types != "" {
		list = strings.Split(types, ", ")
	}
	if wf == AllWorkflows {
		wf = ""
	}
	return ref, eventSubjects(wf, list)
}

// eventSubjects are the filter subjects of a sink on the events stream.
func eventSubjects(workflow string, types []string) []string {
	wf := workflow
	if wf == "" {
		wf = "*"
	}
	if len(types) == 0 {
		return []string{"paperflow.events." + wf + ".*"}
	}
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = "paperflow.events." + wf + "." + t
	}
	return out
}

// EnsureStreams creates or updates the events stream and delivery's own
// streams. It is idempotent; every host calls it at start-up.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, replicas int) error {
	replicas = max(replicas, 1)
	if _, err := events.EnsureStream(ctx, js, replicas, 0); err != nil {
		return err
	}
	for _, cfg := range []jetstream.StreamConfig{
		{Name: DeadLettersStream, Subjects: []string{"paperflow.deadletters.>"}, MaxAge: DeadLettersMaxAge,
			Description: "events a sink gave up on; `paperflow webhooks replay --dead-letters` delivers them again"},
		{Name: AttemptsStream, Subjects: []string{"paperflow.attempts.>"}, MaxAge: AttemptsMaxAge, MaxBytes: AttemptsMaxBytes,
			Description: "one record per delivery attempt of every sink"},
		{Name: ReplaysStream, Subjects: []string{"paperflow.replays.>"}, Retention: jetstream.WorkQueuePolicy,
			Description: "events queued to be delivered again to one sink"},
	} {
		cfg.Storage = jetstream.FileStorage
		cfg.Replicas = replicas
		cfg.Duplicates = 2 * time.Minute
		if _, err := bus.EnsureStream(ctx, js, cfg, nil); err != nil {
			return err
		}
	}
	return nil
}

// subjectMatches reports whether subject matches a NATS filter with * and >.
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}
