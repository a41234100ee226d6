package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is one process as /proc shows it.
type proc struct {
	pid, ppid int
	exe       string // the binary, "" when unreadable (a zombie, another user's)
	state     string // R, S, Z, ...
	start     uint64 // start time in clock ticks: tells a reused pid apart
}

// readProc reads /proc/<pid>; ok is false when the process is gone.
func readProc(pid int) (proc, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	s := string(raw)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return proc{}, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 20 {
		return proc{}, false
	}
	p := proc{pid: pid, state: f[0]}
	p.ppid, _ = strconv.Atoi(f[1])
	p.start, _ = strconv.ParseUint(f[19], 10, 64)
	p.exe, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	p.exe = strings.TrimSuffix(p.exe, " (deleted)")
	return p, true
}

// processes lists the live (not zombie) processes for which keep is true.
func processes(keep func(proc) bool) []proc {
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, ok := readProc(pid)
		if ok && p.state != "Z" && keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// under says whether p runs a binary inside dir.
func (p proc) under(dir string) bool {
	return p.exe != "" && strings.HasPrefix(p.exe, filepath.Clean(dir)+string(filepath.Separator))
}

// alive says whether p still runs (same pid, same start, not a zombie).
func (p proc) alive() bool {
	now, ok := readProc(p.pid)
	return ok && now.start == p.start && now.state != "Z"
}

// blockChildren lists the block processes that parent started.
func blockChildren(parent int) []proc {
	plugins := filepath.Join(binDir, "plugins")
	return processes(func(p proc) bool { return p.ppid == parent && p.under(plugins) })
}

// waitGone waits up to d for every process in ps to end and returns those
// still running.
func waitGone(ps []proc, d time.Duration) []proc {
	deadline := time.Now().Add(d)
	for {
		var left []proc
		for _, p := range ps {
			if p.alive() {
				left = append(left, p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBlocksDieWithTheirHost kills `paperflow run` with SIGKILL mid-run:
// no block process it started may outlive it by more than 5 s.
func TestBlocksDieWithTheirHost(t *testing.T) {
	t.Parallel()
	wf := slowWorkflow(t, "orphans", 400, 300)
	cmd, _, exited := startRun(t, "--data-dir", t.TempDir(), "--plugins", filepath.Join(binDir, "plugins"), "run", wf, "--batch", "2")
	var children []proc
	waitFor(t, func() bool {
		children = blockChildren(cmd.Process.Pid)
		return len(children) >= 2 // the csv source and the testblock steps
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	if left := waitGone(children, 5*time.Second); len(left) > 0 {
		for _, p := range left {
			t.Errorf("block process %d (%s) still runs 5 s after its host was killed", p.pid, p.exe)
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

// leftoverBlocks is the check TestMain runs after every test: no process
// may still run a binary from the test's plugin folder. It kills what it
// finds and says so.
func leftoverBlocks(dir string) error {
	ours := func(p proc) bool { return p.under(dir) }
	left := waitGone(processes(ours), 5*time.Second)
	if len(left) == 0 {
		return nil
	}
	var names []string
	for _, p := range left {
		names = append(names, fmt.Sprintf("%d %s (parent %d)", p.pid, p.exe, p.ppid))
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
	return fmt.Errorf("%d process(es) from %s outlived the tests:\n  %s", len(left), dir, strings.Join(names, "\n  "))
}

// TestInterruptedValidateLeavesNoBlocks sends SIGTERM to `paperflow
// validate` while its blocks check their configuration: every block
// process it started ends with it.
func TestInterruptedValidateLeavesNoBlocks(t *testing.T) {
	t.Parallel()
	wf := manyNoops(t, 200)
	cmd := exec.Command(filepath.Join(binDir, "paperflow"), "--data-dir", t.TempDir(), "validate", wf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	seen := map[int]proc{}
	var err error
	for len(seen) == 0 {
		for _, p := range blockChildren(cmd.Process.Pid) {
			seen[p.pid] = p
		}
		select {
		case err = <-exited:
			t.Fatalf("validate ended (%v) before any block started; give it more blocks", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	<-exited
	var started []proc
	for _, p := range seen {
		started = append(started, p)
	}
	for _, p := range waitGone(started, 5*time.Second) {
		t.Errorf("block process %d (%s) still runs 5 s after validate was stopped", p.pid, p.exe)
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// manyNoops writes a workflow of n noop steps after a one-row csv source.
func manyNoops(t *testing.T, n int) string {
	t.Helper()
	var wf strings.Builder
	wf.WriteString("name: many\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n")
	for i := range n {
		fmt.Fprintf(&wf, "  - {id: n%d, uses: noop}\n", i)
	}
	dir := writeFiles(t, map[string]string{"items.csv": "Name\nA\n", "wf.yaml": wf.String()})
	return filepath.Join(dir, "wf.yaml")
}
