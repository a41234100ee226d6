package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The names paperflow publishes under: events go to
// paperflow.events.<workflow>.<EVENT_TYPE> in this stream.
const (
	streamName    = "PAPERFLOW_EVENTS"
	subjectPrefix = "paperflow.events"
	defaultURL    = "nats://127.0.0.1:4222"
)

// options are the command line.
type options struct {
	url       string
	raw       bool
	workflow  string
	eventType string
	all       bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("subscriber", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := os.Getenv("PAPERFLOW_NATS_URL")
	if url == "" {
		url = defaultURL
	}
	fs.StringVar(&o.url, "nats", url, "NATS server URL (env PAPERFLOW_NATS_URL)")
	fs.BoolVar(&o.raw, "json", false, "print each event's JSON envelope as published, one per line")
	fs.StringVar(&o.workflow, "workflow", "", "only events of this workflow")
	fs.StringVar(&o.eventType, "type", "", "only events of this type, e.g. DOCUMENTS_CREATED")
	fs.BoolVar(&o.all, "all", false, "start with the events already stored, not only new ones")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: subscriber [flags]\n\nPrints paperflow events from NATS JetStream (stream %s) as they happen.\n\n", streamName)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	for _, v := range []string{o.workflow, o.eventType} {
		if strings.ContainsAny(v, ".*> \t") {
			return o, fmt.Errorf("%q: a workflow name or event type has no dots, spaces or wildcards", v)
		}
	}
	return o, nil
}

// subject is the filter for the options: paperflow.events.> by default.
func (o options) subject() string {
	if o.workflow == "" && o.eventType == "" {
		return subjectPrefix + ".>"
	}
	wf, typ := o.workflow, o.eventType
	if wf == "" {
		wf = "*"
	}
	if typ == "" {
		typ = "*"
	}
	return subjectPrefix + "." + wf + "." + typ
}

// run connects and prints events until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	nc, err := nats.Connect(o.url, nats.Name("paperflow-subscriber"), nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w (is paperflow serve or nats-server running there? set -nats or PAPERFLOW_NATS_URL)", o.url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if _, err := js.Stream(ctx, streamName); err != nil {
		return streamError(err)
	}
	fmt.Fprintf(stderr, "following %s on %s (stream %s); Ctrl-C to stop\n", o.subject(), o.url, streamName)
	return follow(ctx, js, o, stdout)
}

// follow prints the events of the stream that match o until ctx ends. An
// ordered consumer needs no acks and leaves nothing behind on the server:
// it is the reader's own cursor, recreated by the client after a hiccup.
func follow(ctx context.Context, js jetstream.JetStream, o options, w io.Writer) error {
	policy := jetstream.DeliverNewPolicy
	if o.all {
		policy = jetstream.DeliverAllPolicy
	}
	cons, err := js.OrderedConsumer(ctx, streamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{o.subject()},
		DeliverPolicy:  policy,
	})
	if err != nil {
		return streamError(err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("consume %s: %w", streamName, err)
	}
	defer msgs.Stop()
	for {
		msg, err := msgs.Next(jetstream.NextContext(ctx))
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", streamName, err)
		}
		if _, err := fmt.Fprintln(w, formatEvent(msg.Subject(), msg.Data(), o.raw)); err != nil {
			return err
		}
	}
}

func streamError(err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %s not found: paperflow creates it when it starts; is this the NATS that paperflow serve uses?", streamName)
	}
	if errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
		return errors.New("this NATS server has JetStream disabled: paperflow needs it (nats-server -js)")
	}
	return fmt.Errorf("stream %s: %w", streamName, err)
}

// envelope is the part of an event this program prints.
type envelope struct {
	EventID   string `json:"eventId"`
	EventType string `json:"eventType"`
	Data      struct {
		Documents  []json.RawMessage `json:"documents"`
		Emails     []json.RawMessage `json:"emails"`
		Recipients []json.RawMessage `json:"recipients"`
	} `json:"data"`
	Metadata struct {
		Workflow  string `json:"workflow"`
		RunID     string `json:"run_id"`
		ItemID    string `json:"item_id"`
		BlockID   string `json:"block_id"`
		CreatedAt string `json:"created_at"`
	} `json:"metadata"`
}

// formatEvent is one output line: the JSON on one line when raw, else
//
//	2026-03-01T10:00:00Z DOCUMENTS_CREATED 9f2c…e1 workflow=invoices item=… block=invoice documents=1
func formatEvent(subject string, data []byte, raw bool) string {
	if raw {
		var buf bytes.Buffer
		if err := json.Compact(&buf, data); err != nil {
			return strings.TrimSpace(string(data))
		}
		return buf.String()
	}
	var e envelope
	if err := json.Unmarshal(data, &e); err != nil || e.EventType == "" {
		return fmt.Sprintf("%s: not a paperflow event (%d bytes)", subject, len(data))
	}
	m := e.Metadata
	line := fmt.Sprintf("%s %s %s workflow=%s item=%s block=%s run=%s",
		orDash(m.CreatedAt), e.EventType, orDash(e.EventID), orDash(m.Workflow), orDash(m.ItemID), orDash(m.BlockID), orDash(m.RunID))
	for _, c := range []struct {
		name string
		n    int
	}{{"documents", len(e.Data.Documents)}, {"emails", len(e.Data.Emails)}, {"recipients", len(e.Data.Recipients)}} {
		if c.n > 0 {
			line += fmt.Sprintf(" %s=%d", c.name, c.n)
		}
	}
	return line
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
