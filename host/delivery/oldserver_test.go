package delivery_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/plugins/websend"
)

// oldNATSServer starts the machine's nats-server (Debian's package puts
// 2.9.10 in /usr/sbin) with JetStream in a temp dir and returns a bus
// connected to it. It skips unless that server is older than 2.10: these
// tests are about servers that take one consumer filter subject only.
func oldNATSServer(t *testing.T) *bus.Bus {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nats-server", "/usr/bin/nats-server"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		t.Skip("nats-server is not installed (apt-get install nats-server gives Debian's 2.9.10): old-server test skipped")
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Skipf("%s --version: %v: old-server test skipped", bin, err)
	}
	m := regexp.MustCompile(`v?(\d+)\.(\d+)\.\d+`).FindStringSubmatch(string(out))
	if m == nil {
		t.Skipf("%s --version says %q: old-server test skipped", bin, out)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major > 2 || (major == 2 && minor >= 10) {
		t.Skipf("%s is %s, not older than 2.10 (Debian's package is 2.9.10): old-server test skipped", bin, strings.TrimSpace(string(out)))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", filepath.Join(dir, "js"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Server is ready") {
				close(ready)
				break
			}
		}
		for sc.Scan() { // keep the pipe drained
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not say it was ready within 10s", bin)
	}

	b, err := bus.Open(context.Background(), bus.Options{URL: fmt.Sprintf("nats://127.0.0.1:%d", port)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if v := b.NC.ConnectedServerVersion(); !strings.HasPrefix(v, m[1]+"."+m[2]+".") {
		t.Fatalf("connected to server %s, want %s.%s", v, m[1], m[2])
	}
	return b
}

// publishType publishes one valid event of type typ for workflow and
// returns its id.
func publishType(t *testing.T, b *bus.Bus, workflow string, typ events.Type) string {
	t.Helper()
	v, err := events.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	docs := []map[string]any{{"id": "doc-1", "url": "http://127.0.0.1/doc", "name": "Invoice.pdf", "mimetype": "application/pdf"}}
	var data map[string]any
	switch typ {
	case events.DocumentsCreated:
		data = map[string]any{"documents": docs}
	case events.EmailsCreated:
		data = map[string]any{"emails": []map[string]any{{"to": "ada@example.com", "subject": "Invoice", "message_id": "<1@example.com>"}}}
	default:
		t.Fatalf("publishType: no data for %s", typ)
	}
	_, raw, err := events.New(events.Metadata{Workflow: workflow, RunID: strconv.FormatInt(time.Now().UnixNano(), 36), ItemID: "1", BlockID: "docs"}, typ, data)
	if err != nil {
		t.Fatal(err)
	}
	id, err := events.NewPublisher(b.JS, v).Publish(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestOldServerFiltersByType runs a subscription and a sink block that
// each take two event types on a nats-server older than 2.10, which
// refuses consumers with several filter subjects: both are created, get an
// event of a type they take, and never see (nor log) one they do not.
func TestOldServerFiltersByType(t *testing.T) {
	b := oldNATSServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := delivery.EnsureStreams(ctx, b.JS, 1); err != nil {
		t.Fatal(err)
	}
	types := []string{string(events.DocumentsCreated), string(events.SignaturesCompleted)}

	store, err := delivery.OpenSubscriptions(ctx, b.JS, 1, loopback)
	if err != nil {
		t.Fatal(err)
	}
	subRcv := newReceiver(t, "", ok)
	sub, err := store.Create(ctx, delivery.SubscriptionInput{URL: ptr(subRcv.URL + "/hook"), Events: types})
	if err != nil {
		t.Fatalf("create a subscription to %v on nats-server %s: %v", types, b.NC.ConnectedServerVersion(), err)
	}
	subRcv.secret = sub.Secret

	blockRcv := newReceiver(t, "", ok)
	block := sinkTo(t, "invoices", "notify", websend.Config{URL: blockRcv.URL, Events: types}, fast)
	block.Events = types // what the sink declares in Configure (its events:)
	start(t, options(t, b), block)
	d2 := start(t, options(t, b))
	done := make(chan error, 1)
	go func() {
		done <- delivery.ServeSubscriptions(ctx, d2, store, delivery.SubscriptionSending{Allow: loopback, Schedule: fast})
	}()
	awaitTargets(t, d2, 1)

	unwanted := publishType(t, b, "invoices", events.EmailsCreated)
	wanted := publishType(t, b, "invoices", events.DocumentsCreated)
	for _, c := range []struct {
		name string
		rcv  *receiver
		ref  string
	}{{"subscription", subRcv, sub.Ref()}, {"sink block", blockRcv, "invoices/notify"}} {
		c.rcv.await(t, c.name+" delivery of "+wanted, 10*time.Second, c.rcv.allDelivered([]string{wanted}))
		as := awaitAttempts(t, b, c.ref, "the delivery", func(as []delivery.Attempt) bool { return len(as) > 0 })
		for _, a := range as {
			if a.EventID == unwanted {
				t.Errorf("%s: the attempt log has the EMAILS_CREATED event it does not take: %+v", c.name, a)
			}
		}
		if n, _ := c.rcv.counts(unwanted); n != 0 {
			t.Errorf("%s: the receiver got the EMAILS_CREATED event %d times", c.name, n)
		}
	}

	// Replays find the sinks of an event although this server keeps no
	// consumer metadata.
	refs, err := delivery.Replay(ctx, b.JS, wanted)
	if err != nil || !slices.Equal(refs, []string{sub.Ref(), "invoices/notify"}) {
		t.Errorf("replay of the DOCUMENTS_CREATED event: queued for %v, %v", refs, err)
	}
	if refs, err := delivery.Replay(ctx, b.JS, unwanted); err == nil {
		t.Errorf("replay of the EMAILS_CREATED event: queued for %v", refs)
	}
	for _, rcv := range []*receiver{subRcv, blockRcv} {
		rcv.await(t, "the replay", 10*time.Second, func() bool { n, _ := rcv.counts(wanted); return n == 2 })
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}
