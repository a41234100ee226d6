package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// peakChildren samples the block processes running binary name under
// parent until stop is closed and returns the most seen at once.
func peakChildren(parent int, name string, stop <-chan struct{}) <-chan int {
	peak := make(chan int, 1)
	go func() {
		most := 0
		for {
			n := len(namedChildren(parent, name))
			most = max(most, n)
			select {
			case <-stop:
				peak <- most
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return peak
}

func namedChildren(parent int, name string) []proc {
	var out []proc
	for _, p := range blockChildren(parent) {
		if filepath.Base(p.exe) == name {
			out = append(out, p)
		}
	}
	return out
}

// TestManyBlocksShareOneProcess: 200 noop blocks in one workflow are
// served by one noop process, in validate and in run.
func TestManyBlocksShareOneProcess(t *testing.T) {
	t.Parallel()
	wf := manyNoops(t, 200)

	validate := exec.Command(filepath.Join(binDir, "paperflow"), "--data-dir", t.TempDir(), "validate", wf)
	var out strings.Builder
	validate.Stdout, validate.Stderr = &out, &out
	if err := validate.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = validate.Process.Kill() })
	stop := make(chan struct{})
	peak := peakChildren(validate.Process.Pid, "noop", stop)
	err := validate.Wait()
	close(stop)
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, out.String())
	}
	if n := <-peak; n > 1 {
		t.Errorf("validate ran %d noop processes at once, want 1", n)
	}

	cmd, _, exited := startRun(t, "--data-dir", t.TempDir(), "run", wf, "--output", "json")
	stop = make(chan struct{})
	peak = peakChildren(cmd.Process.Pid, "noop", stop)
	r := <-exited
	close(stop)
	checkSummary(t, r, 1)
	if n := <-peak; n > 1 {
		t.Errorf("run ran %d noop processes at once, want 1", n)
	}
}

// TestSharedProcessCrashRecovered kills the one noop process serving 150
// blocks mid-run: it is started again, every block is configured on it
// again, and every item is done.
func TestSharedProcessCrashRecovered(t *testing.T) {
	t.Parallel()
	const items = 30
	var wf strings.Builder
	wf.WriteString("name: crash\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n")
	for i := range 150 {
		fmt.Fprintf(&wf, "  - {id: n%d, uses: noop}\n", i)
	}
	wf.WriteString("  - {id: slow, uses: testblock, with: {sleep_ms: 100}}\n")
	var csv strings.Builder
	csv.WriteString("Name\n")
	for i := range items {
		fmt.Fprintf(&csv, "person %d\n", i)
	}
	dir := writeFiles(t, map[string]string{"items.csv": csv.String(), "wf.yaml": wf.String()})

	cmd, _, exited := startRun(t, "--data-dir", t.TempDir(), "run", filepath.Join(dir, "wf.yaml"), "--output", "json", "--batch", "2")
	// Kill it once every noop block is configured on it: each holds a
	// connection to its own Host service.
	var noops []proc
	waitFor(t, func() bool {
		noops = namedChildren(cmd.Process.Pid, "noop")
		return len(noops) > 0 && openFiles(noops[0].pid) >= 150
	})
	for _, p := range noops {
		if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	peak := peakChildren(cmd.Process.Pid, "noop", stop)
	var r result
	select {
	case r = <-exited:
	case <-time.After(2 * time.Minute):
		t.Fatal("run did not end within 2 minutes")
	}
	close(stop)
	checkSummary(t, r, items)
	if n := <-peak; n > 1 {
		t.Errorf("%d noop processes at once after the crash, want 1", n)
	}
	if len(noops) != 1 {
		t.Errorf("%d noop processes before the crash, want 1", len(noops))
	}
}

// openFiles counts the file descriptors pid has open.
func openFiles(pid int) int {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(fds)
}

func checkSummary(t *testing.T, r result, items int) {
	t.Helper()
	var sum struct{ Items, Succeeded int }
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || r.code != 0 {
		t.Fatalf("run: exit %d, %v\n%s\n%s", r.code, err, r.stdout, tail(r.stderr))
	}
	if sum.Items != items || sum.Succeeded != items {
		t.Errorf("summary %s, want %d items all succeeded", r.stdout, items)
	}
}
