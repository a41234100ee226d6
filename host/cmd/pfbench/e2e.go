package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// receiver is the local webhook receiver: it counts deliveries by
// webhook-id, so a duplicate or a missing one shows.
type receiver struct {
	url  string
	srv  *http.Server
	mu   sync.Mutex
	seen map[string]int
	n    atomic.Int64
	done chan struct{}
	want int64
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + ln.Addr().String() + "/hook", seen: map[string]int{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// expect resets the counts for a new measurement of want deliveries.
func (r *receiver) expect(want int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen, r.want, r.done = map[string]int{}, want, make(chan struct{})
	r.n.Store(0)
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	buf := make([]byte, 4096)
	for {
		if _, err := req.Body.Read(buf); err != nil {
			break
		}
	}
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	r.seen[id]++
	first := r.seen[id] == 1
	done := r.done
	r.mu.Unlock()
	if first && r.n.Add(1) == r.want && done != nil {
		close(done)
	}
	w.WriteHeader(http.StatusNoContent)
}

// builtOnly is a mail transport that keeps nothing: the pipeline beside
// it shows what writing the outbox costs.
type builtOnly struct{}

func (builtOnly) Send(context.Context, *mail.Built) error { return nil }

// mailedOnce checks that the outbox in dir holds want messages, each
// Message-ID once, every one readable.
func mailedOnce(dir string, want int) error {
	o := mail.Outbox{Dir: dir}
	defer o.Close()
	entries, err := o.Messages()
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if seen[e.MessageID] {
			return fmt.Errorf("%s: message %s written twice", dir, e.MessageID)
		}
		seen[e.MessageID] = true
	}
	if len(seen) != want {
		return fmt.Errorf("%s: %d messages, want %d", dir, len(seen), want)
	}
	return nil
}

// duplicates counts ids delivered more than once.
func (r *receiver) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.seen {
		if c > 1 {
			n++
		}
	}
	return n
}

// endToEnd runs wfYAML (with {{HOOK}} standing for the receiver's URL) on a
// fresh embedded NATS: the run's steps in the engine and the workflow's
// webhook sink fed by the dispatcher, as `paperflow serve` does. It returns
// items/s from the start of the run to the last delivery, and checks every
// event was delivered exactly once.
//
// Mail goes to a spooled outbox in the run's directory (as `paperflow
// serve` keeps it), or to transport when it is not nil.
func endToEnd(dir, name, wfYAML string, files map[string][]byte, items, eventsPerItem int, reg pluginhost.Registry, emb map[string]sdk.Block, recv *receiver, transport mail.Transport) (float64, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wdir := filepath.Join(dir, name)
	if err := os.MkdirAll(wdir, 0o755); err != nil {
		return 0, err
	}
	for f, data := range files {
		if err := os.WriteFile(filepath.Join(wdir, f), data, 0o644); err != nil {
			return 0, err
		}
	}
	wfFile := filepath.Join(wdir, "workflow.yaml")
	if err := os.WriteFile(wfFile, []byte(strings.ReplaceAll(wfYAML, "{{HOOK}}", recv.url)), 0o644); err != nil {
		return 0, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := bus.Open(ctx, bus.Options{DataDir: filepath.Join(wdir, "data")})
	if err != nil {
		return 0, err
	}
	defer b.Close()
	if transport == nil {
		transport = mail.Outbox{Dir: filepath.Join(wdir, "outbox"), Spool: true}
	}
	e, err := engine.New(ctx, engine.Options{Bus: b, Plugins: reg, Mail: transport, Log: log, PublicURL: "http://127.0.0.1:8080", Embedded: emb})
	if err != nil {
		return 0, err
	}
	wf, problems := workflow.Load(wfFile, e.Catalog())
	if len(problems) > 0 {
		return 0, problems
	}
	d, err := delivery.Start(ctx, delivery.Options{JS: b.JS, Replicas: b.Replicas, Log: log})
	if err != nil {
		return 0, err
	}
	defer d.Stop()
	settings := pluginhost.HostSettings("127.0.0.1/32", "")
	for _, def := range wf.Blocks {
		desc, err := e.Catalog().Describe(ctx, def.Uses)
		if err != nil {
			return 0, err
		}
		if desc.Kind != sdk.KindSink {
			continue
		}
		blk, err := pluginhost.Start(ctx, pluginhost.Spec{
			Instance: pluginhost.Instance{Workflow: wf.Name, BlockID: def.ID}, Uses: def.Uses, Path: desc.Path,
			Config: def.ConfigJSON(), WorkflowDir: wf.Dir, Settings: settings,
		}, e, log)
		if err != nil {
			return 0, err
		}
		defer blk.Close()
		t, err := delivery.BlockTarget(wf, &def, blk)
		if err != nil {
			return 0, err
		}
		if err := d.Add(ctx, t); err != nil {
			return 0, err
		}
	}
	recv.expect(int64(items * eventsPerItem))
	start := time.Now()
	sum, err := e.Run(ctx, wf, engine.RunOptions{})
	if err != nil {
		return 0, err
	}
	if sum.Failed > 0 {
		return 0, fmt.Errorf("%s: %d items failed: %v", name, sum.Failed, sum.Errors[0])
	}
	if eventsPerItem > 0 {
		select {
		case <-recv.done:
		case <-time.After(5 * time.Minute):
			return 0, fmt.Errorf("%s: %d of %d deliveries came", name, recv.n.Load(), items*eventsPerItem)
		}
	}
	elapsed := time.Since(start)
	time.Sleep(200 * time.Millisecond) // a late duplicate would show now
	if n := recv.duplicates(); n > 0 {
		return 0, fmt.Errorf("%s: %d events delivered more than once", name, n)
	}
	if memProfile != "" {
		if err := writeHeapProfile(memProfile + "." + name); err != nil {
			return 0, err
		}
	}
	return float64(items) / elapsed.Seconds(), nil
}
