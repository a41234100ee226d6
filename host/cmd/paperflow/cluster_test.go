package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/mail/smtptest"
)

// natsServerBin is a nats-server binary built from the module paperflow
// embeds, so the cluster tests run stock server processes without
// depending on what the machine has installed.
var natsServerBin = sync.OnceValues(func() (string, error) {
	out := filepath.Join(binDir, "nats-server")
	cmd := exec.Command("go", "build", "-o", out, "github.com/nats-io/nats-server/v2")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build nats-server: %v\n%s", err, b)
	}
	return out, nil
})

// natsNode is one nats-server process of a test cluster.
type natsNode struct {
	name string
	url  string
	conf string
	cmd  *exec.Cmd
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startCluster starts n nats-server processes on 127.0.0.1 clustered
// with JetStream, and waits until JetStream answers.
func startCluster(t *testing.T, n int) []*natsNode {
	t.Helper()
	bin, err := natsServerBin()
	if err != nil {
		t.Fatal(err)
	}
	clientPorts, routePorts := make([]int, n), make([]int, n)
	for i := range n {
		clientPorts[i], routePorts[i] = freePort(t), freePort(t)
	}
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	nodes := make([]*natsNode, n)
	for i := range n {
		dir := t.TempDir()
		nd := &natsNode{name: fmt.Sprintf("n%d", i+1), url: fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i]), conf: filepath.Join(dir, "nats.conf")}
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
max_payload: 8MB
jetstream { store_dir: %q }
cluster { name: paperflow-test, listen: 127.0.0.1:%d, routes: [%s] }
`, nd.name, clientPorts[i], filepath.Join(dir, "js"), routePorts[i], strings.Join(routes, ", "))
		if err := os.WriteFile(nd.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		nd.start(t, bin)
		nodes[i] = nd
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.kill()
		}
	})
	urls := clusterURL(nodes)
	waitFor(t, func() bool {
		nc, err := nats.Connect(urls)
		if err != nil {
			return false
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		// A replicated stream can be made only once the cluster has a
		// JetStream leader and all peers.
		_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "PROBE", Subjects: []string{"probe"}, Replicas: n})
		if err == nil {
			_ = js.DeleteStream(ctx, "PROBE")
		}
		return err == nil
	})
	return nodes
}

func (nd *natsNode) start(t *testing.T, bin string) {
	t.Helper()
	nd.cmd = exec.Command(bin, "-c", nd.conf)
	if err := nd.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

func (nd *natsNode) kill() {
	if nd.cmd != nil && nd.cmd.Process != nil {
		_ = nd.cmd.Process.Signal(syscall.SIGKILL)
		_ = nd.cmd.Wait()
	}
}

func clusterURL(nodes []*natsNode) string {
	var urls []string
	for _, nd := range nodes {
		urls = append(urls, nd.url)
	}
	return strings.Join(urls, ",")
}

// serveHost is one `paperflow serve` process.
type serveHost struct {
	cmd    *exec.Cmd
	data   string
	stderr *lockedBuffer
}

// lockedBuffer collects a process's stderr for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe starts `paperflow serve` on NATS url and waits until it
// takes runs (it writes serve.json then).
func startServe(t *testing.T, url string, args ...string) *serveHost {
	t.Helper()
	h := &serveHost{data: t.TempDir(), stderr: &lockedBuffer{}}
	all := append([]string{"--data-dir", h.data, "--nats", url, "--http", "127.0.0.1:0", "--plugins", filepath.Join(binDir, "plugins"),
		"--item-timeout", "3s", "--batch", "2", "--log-level", "info", "serve"}, args...)
	h.cmd = exec.Command(filepath.Join(binDir, "paperflow"), all...)
	// A goroutine dump on SIGQUIT (dumpGoroutines) shows every goroutine.
	h.cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	h.cmd.Stderr = h.stderr
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.kill)
	waitFor(t, func() bool {
		_, err := os.Stat(filepath.Join(h.data, "serve.json"))
		return err == nil
	})
	return h
}

func (h *serveHost) kill() {
	if h.cmd.Process != nil {
		_ = h.cmd.Process.Signal(syscall.SIGKILL)
		_ = h.cmd.Wait()
	}
}

// eventCounts counts a run's events by eventId, as an independent
// subscriber reading the events stream sees them.
func eventCounts(t *testing.T, js jetstream.JetStream, workflow, runID string) (unique, duplicated int) {
	t.Helper()
	ids := map[string]int{}
	subject := "paperflow.events." + workflow + ".>"
	waitFor(t, func() bool { // the JetStream API may still be electing leaders
		_, err := js.OrderedConsumer(context.Background(), "PAPERFLOW_EVENTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
		return err == nil
	})
	for _, raw := range streamToEnd(t, js, "PAPERFLOW_EVENTS", subject) {
		var env struct {
			EventID  string `json:"eventId"`
			Metadata struct {
				RunID string `json:"run_id"`
			} `json:"metadata"`
		}
		_ = json.Unmarshal(raw, &env)
		if env.Metadata.RunID == runID {
			ids[env.EventID]++
		}
	}
	for _, n := range ids {
		if n > 1 {
			duplicated++
		}
	}
	return len(ids), duplicated
}

// streamToEnd reads every message of subject in stream, up to the last
// one stored when it begins. Soon after a NATS node died a read can come
// back empty before the end; it is read again from where it stopped.
func streamToEnd(t *testing.T, js jetstream.JetStream, stream, subject string) [][]byte {
	t.Helper()
	ctx := context.Background()
	var last uint64
	waitFor(t, func() bool {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		m, err := s.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return true
		}
		if err == nil {
			last = m.Sequence
		}
		return err == nil
	})
	var out [][]byte
	var read uint64 // last stream sequence read
	waitFor(t, func() bool {
		if read >= last {
			return true
		}
		// A consumer of its own each time, made within a bound: an ordered
		// consumer may try for ever to remake one on a node that died.
		cfg := jetstream.ConsumerConfig{FilterSubject: subject, AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, Replicas: 1, InactiveThreshold: time.Minute}
		if read > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, read+1
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		cons, err := js.CreateConsumer(cctx, stream, cfg)
		if err != nil {
			return false
		}
		defer func() { _ = js.DeleteConsumer(cctx, stream, cons.CachedInfo().Name) }()
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return false
		}
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil || md.Sequence.Stream > last {
				continue
			}
			out = append(out, m.Data())
			read = md.Sequence.Stream
		}
		return read >= last
	})
	return out
}

func slowWorkflow(t *testing.T, name string, items, sleepMS int, extraBlocks ...string) string {
	t.Helper()
	var csv strings.Builder
	csv.WriteString("Name\n")
	for i := range items {
		fmt.Fprintf(&csv, "person %d\n", i)
	}
	dir := writeFiles(t, map[string]string{
		"items.csv": csv.String(),
		"wf.yaml": fmt.Sprintf(`name: %s
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: docs, uses: testblock, with: {emit: true, sleep_ms: %d}}
  - {id: more, uses: testblock, with: {emit: true}}
`, name, sleepMS) + strings.Join(extraBlocks, ""),
	})
	return filepath.Join(dir, "wf.yaml")
}

// startRun starts `paperflow run` in the background and returns its run
// id once it printed it, and a channel with its exit.
func startRun(t *testing.T, args ...string) (*exec.Cmd, string, <-chan result) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "paperflow"), args...)
	cmd.Env = append(os.Environ(), "PAPERFLOW_NATS_URL=")
	stderr, _ := cmd.StderrPipe()
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	runID := make(chan string, 1)
	var errText strings.Builder
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			errText.WriteString(sc.Text() + "\n")
			if m := regexp.MustCompile(`run (\S+) started`).FindStringSubmatch(sc.Text()); m != nil {
				runID <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	exited := make(chan result, 1)
	go func() {
		err := cmd.Wait()
		<-scanned
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		exited <- result{stdout.String(), errText.String(), code}
	}()
	select {
	case id := <-runID:
		return cmd, id, exited
	case r := <-exited:
		t.Fatalf("run exited before starting: %d\n%s", r.code, r.stderr)
	case <-time.After(time.Minute):
		t.Fatal("run did not start within a minute")
	}
	return nil, "", nil
}

// TestHostsShareARunOnANATSCluster is the scale-out promise: three
// nats-server processes in a cluster, three `paperflow serve` hosts. The
// host that took the run and one NATS node are killed mid-run; the other
// hosts finish it, and every event is published exactly once.
func TestHostsShareARunOnANATSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	t.Parallel()
	nodes := startCluster(t, 3)
	url := clusterURL(nodes)
	const items = 600
	rc := &receiver{byID: map[string]int{}}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	wf := slowWorkflow(t, "shared", items, 100, fmt.Sprintf(`  - id: hook
    uses: webhook
    with: {url: %q, secret: %q, retry: [1s, 2s, 3s], allow_private: true}
`, hook.URL, faultSecret))
	allow := []string{"--webhook-allow", "127.0.0.1/32", wf}

	// Every host serves the workflow (its sink); the first takes the run
	// and the other two join it.
	first := startServe(t, url, allow...)
	runCmd, id, exited := startRun(t, "--data-dir", t.TempDir(), "--nats", url, "--log-level", "info", "run", wf, "--output", "json")
	second, third := startServe(t, url, allow...), startServe(t, url, allow...)

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var before int
	waitFor(t, func() bool { before = outcomeCount(t, js, id); return before >= items/4 })
	if before >= items {
		t.Fatal("the run finished before the kills; make it slower")
	}
	first.kill()
	nodes[2].kill()
	t.Logf("killed the host that took the run and NATS node %s at %d/%d outcomes", nodes[2].name, before, items)

	var r result
	select {
	case r = <-exited:
	case <-time.After(3 * time.Minute):
		_ = runCmd.Process.Kill()
		cr := <-exited
		logs2, logs3 := second.stderr.String(), third.stderr.String()
		dumps := dumpGoroutines(t, map[string]*serveHost{"host2": second, "host3": third})
		t.Fatalf("run did not finish within 3 minutes after the kills (%d outcomes)\nrun:\n%s\nhost 2:\n%s\nhost 3:\n%s\n%s", outcomeCount(t, js, id), tail(cr.stderr), tail(logs2), tail(logs3), dumps)
	}
	if r.code != 0 {
		t.Fatalf("run exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var sum struct{ Items, Succeeded int }
	_ = json.Unmarshal([]byte(r.stdout), &sum)
	if sum.Items != items || sum.Succeeded != items {
		t.Errorf("summary: %s", r.stdout)
	}
	unique, dups := eventCounts(t, js, "shared", id)
	if unique != 2*items || dups != 0 {
		t.Errorf("events: %d unique (want %d), %d duplicated", unique, 2*items, dups)
	}
	// Every event delivered by the hosts' shared sink. Delivery is at
	// least once: an event whose POST had succeeded when its host died,
	// before NATS heard of it, is delivered again with the same
	// webhook-id, so it is counted, not failed on.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		u, d, refused := rc.counts()
		if u == 2*items {
			t.Logf("deliveries: %d events, %d delivered twice after the kill, %d refused", u, d, refused)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries: %d of %d events delivered", u, 2*items)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var replicas int
	waitFor(t, func() bool { // the JetStream API may still be electing leaders
		si, err := js.Stream(context.Background(), "PAPERFLOW_ITEMS")
		if err == nil {
			replicas = si.CachedInfo().Config.Replicas
		}
		return err == nil
	})
	if got := replicas; got != 3 {
		t.Errorf("items stream has %d replicas on a 3-node cluster, want 3", got)
	}
}

// TestSIGKILLLoop kills the process running a run 20 times at random
// points and resumes it each time: no item is lost and no event is
// published twice. A kill comes as soon as the run started or once it
// recorded a random number of batches' outcomes (up to maxBatches), not
// after a random time: a resumed run that went faster than the test
// expects is still killed mid-way.
func TestSIGKILLLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("kill loop")
	}
	t.Parallel()
	ns := startNATS(t)
	// Each batch is one chunk of 2 items (--batch 2): the kills let at
	// most about kills*maxBatches*2 = 400 items finish before the last
	// resume.
	const items, kills, maxBatches = 600, 20, 10
	smtp := smtptest.Start(t, smtptest.Options{})
	wf := slowWorkflow(t, "killloop", items, 30, `  - id: mail
    uses: email
    with: {from: "Ops <ops@example.com>", to: "p@example.com", subject: "Hello {{Name}}", text: "Hi"}
`)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// Each batch's outcomes, as the run records them.
	recorded := make(chan *nats.Msg, 4*items)
	sub, err := nc.ChanSubscribe("paperflow.outcomes.>", recorded)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	args := []string{"--data-dir", t.TempDir(), "--nats", ns.ClientURL(), "--smtp", smtp.URL("tls=none"), "run", wf, "--output", "json", "--batch", "2"}
	id := ""
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for k := range kills {
		a := args
		if id != "" {
			a = append(append([]string{}, args...), "--resume", id)
		}
		for len(recorded) > 0 { // records of the process killed before
			<-recorded
		}
		cmd, got, exited := startRun(t, a...)
		id = got
		for range rng.IntN(maxBatches + 1) {
			select {
			case <-recorded:
			case r := <-exited:
				t.Fatalf("kill %d: the run ended before the kill (exit %d)\n%s", k+1, r.code, r.stdout)
			case <-time.After(time.Minute):
				t.Fatalf("kill %d: no outcomes recorded for a minute", k+1)
			}
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
	done := outcomeCount(t, js, id)
	r := paperflowNATS(t, ns.ClientURL(), "--smtp", smtp.URL("tls=none"), "run", wf, "--resume", id, "--output", "json")
	if r.code != 0 {
		t.Fatalf("final resume: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var sum struct{ Items, Succeeded int }
	_ = json.Unmarshal([]byte(r.stdout), &sum)
	if sum.Items != items || sum.Succeeded != items {
		t.Errorf("summary after %d kills: %s", kills, r.stdout)
	}
	unique, dups := eventCounts(t, js, "killloop", id)
	if unique != 3*items || dups != 0 {
		t.Errorf("events after %d kills: %d unique (want %d), %d duplicated", kills, unique, 3*items, dups)
	}
	// Every email sent: one Message-ID per item. A kill between the SMTP
	// server's OK and the host recording it sends that email again, with
	// the same Message-ID; SMTP offers no way to rule that window out.
	ids := map[string]int{}
	for _, m := range smtp.Messages() {
		parsed, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		ids[parsed.Header.Get("Message-ID")]++
	}
	if len(ids) != items {
		t.Errorf("emails after %d kills: %d distinct Message-IDs, want %d", kills, len(ids), items)
	}
	t.Logf("%d kills; %d of %d items had an outcome before the last resume; %d emails for %d Message-IDs", kills, done, items, len(smtp.Messages()), len(ids))
}

// dumpGoroutines asks each host for a goroutine dump (SIGQUIT makes a Go
// process print every goroutine's stack and exit) and writes each host's
// whole log with its dump to the test's artifact directory (kept with
// go test -artifacts), saying where.
func dumpGoroutines(t *testing.T, hosts map[string]*serveHost) string {
	t.Helper()
	var where strings.Builder
	dir := t.ArtifactDir()
	for name, h := range hosts {
		if h.cmd.Process == nil {
			continue
		}
		_ = h.cmd.Process.Signal(syscall.SIGQUIT)
		exited := make(chan struct{})
		go func() { _ = h.cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = h.cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
		path := filepath.Join(dir, name+".log")
		if err := os.WriteFile(path, []byte(h.stderr.String()), 0o644); err != nil {
			t.Error(err)
			continue
		}
		fmt.Fprintf(&where, "%s: log and goroutine dump in %s\n", name, path)
	}
	return where.String()
}

// tail is the end of a process's log, enough to say why it failed.
func tail(s string) string {
	const keep = 6000
	if len(s) > keep {
		return "..." + s[len(s)-keep:]
	}
	return s
}
