package bus_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/bus"
)

// TestHoldStoreProcess is the other process of TestOneEmbeddedServerPerStore:
// it opens the embedded store named by PAPERFLOW_TEST_HOLD_STORE, says so,
// and waits to be killed.
func TestHoldStoreProcess(t *testing.T) {
	dir := os.Getenv("PAPERFLOW_TEST_HOLD_STORE")
	if dir == "" {
		t.Skip("run by TestOneEmbeddedServerPerStore")
	}
	b, err := bus.Open(context.Background(), bus.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	os.Stdout.WriteString("holding\n")
	select {}
}

// TestOneEmbeddedServerPerStore: a second process (or a second Open in one
// process) on a data directory whose embedded NATS is running is refused
// with the holder's pid, before its server touches the store; once the
// holder is killed with SIGKILL the store opens again (no stale lock).
func TestOneEmbeddedServerPerStore(t *testing.T) {
	dir := t.TempDir()
	holder := exec.Command(os.Args[0], "-test.run=^TestHoldStoreProcess$", "-test.count=1")
	holder.Env = append(os.Environ(), "PAPERFLOW_TEST_HOLD_STORE="+dir)
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "holding" {
		t.Fatalf("holder said %q, %v", line, err)
	}

	_, err = bus.Open(context.Background(), bus.Options{DataDir: dir})
	if !errors.Is(err, bus.ErrStoreInUse) {
		t.Fatalf("second Open: %v, want ErrStoreInUse", err)
	}
	if pid := strconv.Itoa(holder.Process.Pid); !strings.Contains(err.Error(), "pid "+pid) || !strings.Contains(err.Error(), "paperflow serve") {
		t.Errorf("error %q should name pid %s and say how to share the store", err, pid)
	}

	if err := holder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()
	b, err := bus.Open(context.Background(), bus.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("Open after the holder was killed: %v", err)
	}
	_, err = bus.Open(context.Background(), bus.Options{DataDir: dir})
	if !errors.Is(err, bus.ErrStoreInUse) {
		t.Errorf("a second Open in the same process: %v, want ErrStoreInUse", err)
	}
	b.Close()
	b, err = bus.Open(context.Background(), bus.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	b.Close()
}
