package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func event(id, typ, workflow, item string) string {
	return fmt.Sprintf(`{"eventId": %q, "eventType": %q,
  "data": {"documents": [{"id": "d1", "url": "http://localhost/d1", "name": "invoice.pdf", "mimetype": "application/pdf"}]},
  "metadata": {"workflow": %q, "run_id": "run-1", "item_id": %q, "block_id": "invoice", "created_at": "2026-03-01T10:00:00Z"}}`,
		id, typ, workflow, item)
}

func TestFormatEvent(t *testing.T) {
	ev := event("ab12", "DOCUMENTS_CREATED", "invoices", "item-7")
	cases := []struct {
		data string
		raw  bool
		want string
	}{
		{ev, false, "2026-03-01T10:00:00Z DOCUMENTS_CREATED ab12 workflow=invoices item=item-7 block=invoice run=run-1 documents=1"},
		{ev, true, `{"eventId":"ab12","eventType":"DOCUMENTS_CREATED","data":{"documents":[{"id":"d1","url":"http://localhost/d1","name":"invoice.pdf","mimetype":"application/pdf"}]},"metadata":{"workflow":"invoices","run_id":"run-1","item_id":"item-7","block_id":"invoice","created_at":"2026-03-01T10:00:00Z"}}`},
		{`{"eventType": "EMAILS_CREATED", "data": {"emails": [{}, {}]}}`, false, "- EMAILS_CREATED - workflow=- item=- block=- run=- emails=2"},
		{`not json`, false, "paperflow.events.x.Y: not a paperflow event (8 bytes)"},
		{`not json`, true, "not json"},
	}
	for _, tc := range cases {
		if got := formatEvent("paperflow.events.x.Y", []byte(tc.data), tc.raw); got != tc.want {
			t.Errorf("formatEvent(%.40q, raw=%v):\n got %s\nwant %s", tc.data, tc.raw, got, tc.want)
		}
	}
}

func TestSubject(t *testing.T) {
	cases := []struct {
		o    options
		want string
	}{
		{options{}, "paperflow.events.>"},
		{options{workflow: "invoices"}, "paperflow.events.invoices.*"},
		{options{eventType: "EMAILS_CREATED"}, "paperflow.events.*.EMAILS_CREATED"},
		{options{workflow: "invoices", eventType: "EMAILS_CREATED"}, "paperflow.events.invoices.EMAILS_CREATED"},
	}
	for _, tc := range cases {
		if got := tc.o.subject(); got != tc.want {
			t.Errorf("%+v: subject %s, want %s", tc.o, got, tc.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	t.Setenv("PAPERFLOW_NATS_URL", "nats://nats.internal:4222")
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o.url != "nats://nats.internal:4222" {
		t.Errorf("url from env: %+v %v", o, err)
	}
	o, err = parseFlags([]string{"-nats", "nats://other:4222", "-json", "-all"}, io.Discard)
	if err != nil || o.url != "nats://other:4222" || !o.raw || !o.all {
		t.Errorf("flags: %+v %v", o, err)
	}
	if _, err := parseFlags([]string{"-workflow", "a.b"}, io.Discard); err == nil {
		t.Error("a workflow with a dot: want an error")
	}
}

// TestRunFollowsStream runs the program against a real NATS server with
// JetStream: stored events with -all, then one published while it runs.
func TestRunFollowsStream(t *testing.T) {
	srv := startNATS(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if err := run(ctx, []string{"-nats", srv.ClientURL()}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "stream PAPERFLOW_EVENTS not found") {
		t.Fatalf("without the stream: error %v, want one saying the stream is missing", err)
	}

	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: streamName, Subjects: []string{subjectPrefix + ".>"}}); err != nil {
		t.Fatal(err)
	}
	publish := func(id, typ, workflow string) {
		t.Helper()
		if _, err := js.Publish(ctx, subjectPrefix+"."+workflow+"."+typ, []byte(event(id, typ, workflow, "item-"+id))); err != nil {
			t.Fatal(err)
		}
	}
	publish("e1", "DOCUMENTS_CREATED", "invoices")
	publish("e2", "EMAILS_CREATED", "other")
	publish("e3", "EMAILS_CREATED", "invoices")

	pr, pw := io.Pipe()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"-nats", srv.ClientURL(), "-all", "-workflow", "invoices"}, pw, io.Discard)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	next := func() string {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("no more output: %v", lines.Err())
		}
		return lines.Text()
	}
	for _, want := range []string{"DOCUMENTS_CREATED e1 workflow=invoices", "EMAILS_CREATED e3 workflow=invoices"} {
		if got := next(); !strings.Contains(got, want) {
			t.Errorf("line %q, want it to contain %q", got, want)
		}
	}
	publish("e4", "DOCUMENTS_CREATED", "invoices")
	if got := next(); !strings.Contains(got, "DOCUMENTS_CREATED e4 workflow=invoices item=item-e4") {
		t.Errorf("live line %q", got)
	}
	stop()
	go io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		t.Errorf("run after cancel: %v", err)
	}
}

// startNATS starts a NATS server with JetStream on a free local port,
// storing in a temporary directory.
func startNATS(t *testing.T) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}
