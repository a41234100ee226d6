package hosttest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
)

// NATSServer is the nats-server the machine has installed (Debian's
// package puts it in /usr/sbin), or a skip: cluster tests are about how
// paperflow copes with stock server processes, not the one it embeds.
func NATSServer(t testing.TB) string {
	t.Helper()
	if bin, err := exec.LookPath("nats-server"); err == nil {
		return bin
	}
	for _, p := range []string{"/usr/sbin/nats-server", "/usr/bin/nats-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("nats-server is not installed (apt-get install nats-server, or put one on PATH): cluster test skipped")
	return ""
}

// NATSCluster starts n nats-server processes on 127.0.0.1, clustered with
// JetStream in t.TempDir(), and returns their client URLs joined by
// commas once a stream replicated on every node can be made (the cluster
// has a JetStream leader and all its peers). The processes are killed
// when the test ends.
func NATSCluster(t testing.TB, n int) string {
	t.Helper()
	url := FreshNATSCluster(t, n)
	deadline := time.Now().Add(time.Minute)
	for {
		err := probeCluster(url, n)
		if err == nil {
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %d-node NATS cluster did not come up within a minute: %v", n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// FreshNATSCluster starts the cluster as NATSCluster does but returns as
// soon as every node accepts connections, before JetStream has a leader:
// what a host started at the same moment as its cluster meets.
func FreshNATSCluster(t testing.TB, n int) string {
	t.Helper()
	bin := NATSServer(t)
	clientPorts, routePorts := make([]int, n), make([]int, n)
	for i := range n {
		clientPorts[i], routePorts[i] = freePort(t), freePort(t)
	}
	routes := make([]string, n)
	for i, p := range routePorts {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	urls := make([]string, n)
	for i := range n {
		dir := t.TempDir()
		conf := filepath.Join(dir, "nats.conf")
		text := fmt.Sprintf("server_name: n%d\nlisten: 127.0.0.1:%d\nmax_payload: 8MB\njetstream { store_dir: %q }\ncluster { name: paperflow-test, listen: 127.0.0.1:%d, routes: [%s] }\n",
			i+1, clientPorts[i], filepath.Join(dir, "js"), routePorts[i], strings.Join(routes, ", "))
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-c", conf)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start nats-server: %v", err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
		})
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i])
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range clientPorts {
		for {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("nats-server on port %d does not accept connections: %v", p, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return strings.Join(urls, ",")
}

// probeCluster opens a bus on the cluster, as a host would, and makes and
// deletes a stream with n replicas.
func probeCluster(url string, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Options{URL: url, Replicas: n, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer b.Close()
	if _, err := b.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "PROBE", Subjects: []string{"probe"}, Replicas: n}); err != nil {
		return err
	}
	return b.JS.DeleteStream(ctx, "PROBE")
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
