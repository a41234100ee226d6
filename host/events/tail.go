package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Tailed is one event as a live tail shows it.
type Tailed struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Subject  string    `json:"subject"`
	Envelope Envelope  `json:"envelope"`
}

// Tail hands fn the events of workflow (every workflow when "") of type
// typ (every type when ""), starting with the last `last` stored ones, then
// each new one as it is published, until ctx ends or fn returns an error.
// It reads with an ordered consumer of its own, so any number of tails
// (one per open console page) cost the stream nothing durable.
func Tail(ctx context.Context, js jetstream.JetStream, workflow, typ string, last int, fn func(Tailed) error) error {
	wf, t := workflow, typ
	if wf == "" {
		wf = "*"
	}
	if t == "" {
		t = "*"
	} else if _, err := ParseType(t); err != nil {
		return err
	}
	stream, err := js.Stream(ctx, StreamName)
	if err != nil {
		return fmt.Errorf("events stream: %w", err)
	}
	oc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{"paperflow.events." + wf + "." + t}, DeliverPolicy: jetstream.DeliverNewPolicy}
	if last > 0 {
		info, err := stream.Info(ctx)
		if err != nil {
			return fmt.Errorf("events stream: %w", err)
		}
		oc.DeliverPolicy = jetstream.DeliverAllPolicy
		if info.State.LastSeq > uint64(last)*64 {
			// Start near the end: the filter may skip most messages, so
			// look back further than `last`, then keep only the last ones.
			oc.DeliverPolicy, oc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, info.State.LastSeq-uint64(last)*64
		}
	}
	cons, err := stream.OrderedConsumer(ctx, oc)
	if err != nil {
		return fmt.Errorf("tail events: %w", err)
	}
	var backlog []Tailed
	catching := last > 0
	for ctx.Err() == nil {
		wait := 5 * time.Second
		if catching {
			wait = 200 * time.Millisecond
		}
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(wait))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("tail events: %w", err)
		}
		n := 0
		var pending uint64
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			pending = md.NumPending
			ev := Tailed{Seq: md.Sequence.Stream, Time: md.Timestamp, Subject: m.Subject()}
			_ = json.Unmarshal(m.Data(), &ev.Envelope)
			if catching {
				backlog = append(backlog, ev)
				if len(backlog) > last {
					backlog = backlog[1:]
				}
				continue
			}
			if err := fn(ev); err != nil {
				return err
			}
		}
		if catching && (n == 0 || pending == 0) {
			catching = false
			for _, ev := range backlog {
				if err := fn(ev); err != nil {
					return err
				}
			}
			backlog = nil
		}
	}
	return nil
}
