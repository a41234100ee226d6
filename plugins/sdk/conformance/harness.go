package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/events"
)

// Logger returns a logger that writes to the test's log until the test
// ends; block processes may still log (while exiting) after that, which
// the testing package forbids.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: level}))
}

// RunEvents returns every event published for a run, as the raw envelopes
// in stream order, read by an independent consumer of PAPERFLOW_EVENTS.
func RunEvents(t testing.TB, js jetstream.JetStream, runID string) [][]byte {
	t.Helper()
	cons, err := js.OrderedConsumer(context.Background(), events.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	var out [][]byte
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			t.Fatalf("read events: %v", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var env events.Envelope
			if err := json.Unmarshal(m.Data(), &env); err != nil {
				t.Fatalf("event is not JSON: %v", err)
			}
			if env.Metadata.RunID == runID {
				out = append(out, append([]byte(nil), m.Data()...))
			}
		}
		if n == 0 {
			return out
		}
	}
}

// BuildBlocks compiles block main packages into dir, each binary at the
// path given by its key (e.g. "csv" or "plugins/csv"), for a TestMain
// that runs workflows through the real engine.
func BuildBlocks(dir string, pkgs map[string]string) error {
	for name, pkg := range pkgs {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build block %s from %s: %w", name, pkg, err)
		}
	}
	return nil
}

// RunEnvelopes is RunEvents decoded.
func RunEnvelopes(t testing.TB, js jetstream.JetStream, runID string) []events.Envelope {
	t.Helper()
	var out []events.Envelope
	for _, raw := range RunEvents(t, js, runID) {
		var env events.Envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatalf("event is not JSON: %v", err)
		}
		out = append(out, env)
	}
	return out
}
