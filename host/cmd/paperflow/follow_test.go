package main_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
)

// startEmbeddedServe starts `paperflow serve` with its own embedded NATS
// on data, the default setup, and returns it with the NATS URL it wrote
// to serve.json for `paperflow run`.
func startEmbeddedServe(t *testing.T, data string) (*serveHost, string) {
	t.Helper()
	h := &serveHost{data: data, stderr: &lockedBuffer{}}
	h.cmd = exec.Command(filepath.Join(binDir, "paperflow"), "--data-dir", data, "--http", "127.0.0.1:0", "--plugins", filepath.Join(binDir, "plugins"),
		"--item-timeout", "2s", "--batch", "2", "--log-level", "info", "serve")
	h.cmd.Env = append(os.Environ(), "PAPERFLOW_NATS_URL=")
	h.cmd.Stderr = h.stderr
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.kill)
	var st struct {
		NATSURL string `json:"nats_url"`
		PID     int    `json:"pid"`
	}
	waitFor(t, func() bool {
		raw, err := os.ReadFile(filepath.Join(data, "serve.json"))
		return err == nil && json.Unmarshal(raw, &st) == nil && st.PID == h.cmd.Process.Pid
	})
	return h, st.NATSURL
}

// runStatus reads a run's status from the runs bucket.
func runStatus(js jetstream.JetStream, runID string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, bus.RunsBucket)
	if err != nil {
		return ""
	}
	ent, err := kv.Get(ctx, runID)
	if err != nil {
		return ""
	}
	var rec struct{ Status string }
	_ = json.Unmarshal(ent.Value(), &rec)
	return rec.Status
}

// TestRunFollowsItsRunToARestartedServe: `paperflow run` hands its run to
// the `paperflow serve` on its data directory, which is SIGKILLed mid-run
// and with it the NATS it embeds. A serve started again on the same data
// directory (its NATS on a new port) completes the run; the follower
// finds the new host, and ends within moments with the completed summary
// and exit code 0.
func TestRunFollowsItsRunToARestartedServe(t *testing.T) {
	if testing.Short() {
		t.Skip("serve killed and restarted")
	}
	t.Parallel()
	const items = 80
	data := t.TempDir()
	wf := slowWorkflow(t, "handed", items, 100)
	first, url := startEmbeddedServe(t, data)
	runCmd, id, exited := startRun(t, "--data-dir", data, "--log-level", "info", "run", wf, "--output", "json")
	defer func() { _ = runCmd.Process.Kill() }()

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	waitFor(t, func() bool { return outcomeCount(t, js, id) >= 10 })
	nc.Close()
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()

	second, url := startEmbeddedServe(t, data)
	nc, err = nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ = jetstream.New(nc)
	deadline := time.Now().Add(2 * time.Minute)
	for runStatus(js, id) != "completed" {
		if time.Now().After(deadline) {
			t.Fatalf("the restarted serve did not complete the run (status %q)\nserve:\n%s", runStatus(js, id), tail(second.stderr.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	completedAt := time.Now()

	var r result
	select {
	case r = <-exited:
	case <-time.After(15 * time.Second):
		_ = runCmd.Process.Signal(syscall.SIGINT)
		r = <-exited
		t.Fatalf("run still following 15s after the run completed; after Ctrl-C: exit %d\n%s\n%s", r.code, r.stdout, tail(r.stderr))
	}
	t.Logf("the follower ended %s after the run completed", time.Since(completedAt).Round(100*time.Millisecond))
	if r.code != 0 {
		t.Fatalf("run exit %d\n%s\n%s", r.code, r.stdout, tail(r.stderr))
	}
	var sum struct {
		RunID            string `json:"run_id"`
		Items, Succeeded int
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum.RunID != id || sum.Items != items || sum.Succeeded != items {
		t.Errorf("summary (%v): %s", err, r.stdout)
	}
}
