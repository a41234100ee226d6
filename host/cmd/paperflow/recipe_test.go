package main_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// installedNATSServer is the nats-server the machine has installed
// (Debian's package puts it in /usr/sbin): the README's recipe uses it, so
// the test does too. Without one the test is skipped.
func installedNATSServer(t *testing.T) string {
	t.Helper()
	if bin, err := exec.LookPath("nats-server"); err == nil {
		return bin
	}
	for _, p := range []string{"/usr/sbin/nats-server", "/usr/bin/nats-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("nats-server is not installed (apt-get install nats-server): the README cluster recipe test is skipped")
	return ""
}

// serveStarted waits until a `paperflow serve` wrote serve.json in data,
// failing with its stderr if it exits first, and returns its HTTP address.
func serveStarted(t *testing.T, cmd *exec.Cmd, exited <-chan error, stderr *lockedBuffer, data string) string {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		var st struct {
			HTTP string `json:"http"`
			PID  int    `json:"pid"`
		}
		raw, err := os.ReadFile(filepath.Join(data, "serve.json"))
		if err == nil && json.Unmarshal(raw, &st) == nil && st.PID == cmd.Process.Pid {
			return st.HTTP
		}
		select {
		case err := <-exited:
			t.Fatalf("serve on %s exited before serving (%v):\n%s", data, err, tail(stderr.String()))
		case <-deadline:
			t.Fatalf("serve on %s did not write serve.json within 2 minutes:\n%s", data, tail(stderr.String()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startServeCmd starts cmd with stderr collected and a channel that gets
// its exit.
func startServeCmd(t *testing.T, cmd *exec.Cmd) (*lockedBuffer, <-chan error) {
	t.Helper()
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited, done := make(chan error, 1), make(chan struct{})
	go func() {
		exited <- cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	})
	return stderr, exited
}

// TestServeCreatesItsDataDir: with --nats nothing else creates the data
// directory, yet serve writes serve.json there.
func TestServeCreatesItsDataDir(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	data := filepath.Join(t.TempDir(), "not", "yet")
	cmd := exec.Command(filepath.Join(binDir, "paperflow"), "--nats", ns.ClientURL(), "--data-dir", data, "--http", "127.0.0.1:0",
		"--plugins", filepath.Join(binDir, "plugins"), "serve")
	stderr, exited := startServeCmd(t, cmd)
	serveStarted(t, cmd, exited, stderr, data)
	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %v, want 0700", fi.Mode().Perm())
	}
}

// TestREADMEClusterRecipe runs the README's "Several hosts on a NATS
// cluster" recipe with the installed nats-server: three nodes configured
// as the README says, two `paperflow serve` started at the same moment on
// data directories that do not exist yet, then `paperflow run`. Both hosts
// serve and the run completes.
func TestREADMEClusterRecipe(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	t.Parallel()
	bin := installedNATSServer(t)
	dir := t.TempDir()
	var clientPorts, routePorts [3]int
	for i := range 3 {
		clientPorts[i], routePorts[i] = freePort(t), freePort(t)
	}
	var urls []string
	for i := range 3 {
		n := i + 1
		// The README's configuration, on free ports.
		conf := fmt.Sprintf(`server_name: n%d
listen: 127.0.0.1:%d
jetstream { store_dir: "./js-n%d" }
max_payload: 8MB
cluster { name: paperflow, listen: 127.0.0.1:%d,
          routes: [nats-route://127.0.0.1:%d, nats-route://127.0.0.1:%d, nats-route://127.0.0.1:%d] }
`, n, clientPorts[i], n, routePorts[i], routePorts[0], routePorts[1], routePorts[2])
		name := fmt.Sprintf("n%d.conf", n)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-c", name)
		cmd.Dir = dir
		startServeCmd(t, cmd)
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i]))
	}
	for _, p := range clientPorts {
		waitFor(t, func() bool {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
	env := append(os.Environ(), "PAPERFLOW_NATS_URL="+strings.Join(urls, ","))
	workflows, err := filepath.Glob(filepath.Join(repoRoot(t), "workflows", "*.yaml"))
	if err != nil || len(workflows) == 0 {
		t.Fatalf("no workflow files: %v", err)
	}

	type host struct {
		data   string
		cmd    *exec.Cmd
		stderr *lockedBuffer
		exited <-chan error
	}
	hosts := []*host{{data: "host1"}, {data: "host2"}}
	for _, h := range hosts {
		args := append([]string{"serve", "--http", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--data-dir", h.data,
			"--plugins", filepath.Join(binDir, "plugins"), "--log-level", "info"}, workflows...)
		h.cmd = exec.Command(filepath.Join(binDir, "paperflow"), args...)
		h.cmd.Dir, h.cmd.Env = dir, env
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			h.stderr, h.exited = startServeCmd(t, h.cmd)
		}()
	}
	close(start)
	wg.Wait()
	for _, h := range hosts {
		addr := serveStarted(t, h.cmd, h.exited, h.stderr, filepath.Join(dir, h.data))
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s /readyz: %s", h.data, resp.Status)
		}
	}

	run := exec.Command(filepath.Join(binDir, "paperflow"), "run", "--output", "json", filepath.Join(repoRoot(t), "workflows", "hello.yaml"))
	run.Dir, run.Env = dir, env
	out, err := run.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("paperflow run: %v\n%s\nhost1:\n%s\nhost2:\n%s", err, stderr, tail(hosts[0].stderr.String()), tail(hosts[1].stderr.String()))
	}
	var sum struct {
		Items  int `json:"items"`
		Failed int `json:"failed"`
	}
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("run summary: %v\n%s", err, out)
	}
	if sum.Items == 0 || sum.Failed != 0 {
		t.Fatalf("run summary %s", out)
	}
}

// repoRoot is the repository's top directory (this package is three
// levels down).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}
