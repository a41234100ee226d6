//go:build linux

package sdk_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// TestBlockExitsWhenItsHostIsGone starts a block from a shell that sets no
// parent-death signal, kills the shell, and expects the block's watchdog
// to end it within a few seconds.
func TestBlockExitsWhenItsHostIsGone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a block")
	}
	bin := filepath.Join(t.TempDir(), "echo")
	build := exec.Command("go", "build", "-o", bin, "./sdktest/testdata/echo")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatal(err)
	}
	host := exec.Command("sh", "-c", `PAPERFLOW_HOST_PID=$$ "$0" </dev/null >/dev/null 2>&1 & echo $!; wait`, bin)
	host.Env = append(os.Environ(), sdk.Handshake.MagicCookieKey+"="+sdk.Handshake.MagicCookieValue, "PLUGIN_PROTOCOL_VERSIONS=1")
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Process.Kill(); _ = host.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("block pid: %q", line)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	_ = host.Process.Kill()
	_ = host.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
			t.Fatalf("block %d still runs 5 s after its host was killed\n%s", pid, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// running says whether pid is a live process (not a zombie waiting for
// its new parent to reap it).
func running(pid int) bool {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}
