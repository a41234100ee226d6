// Package conformance checks that a block binary behaves as the paperflow
// host expects: it runs the binary through the real host machinery (the
// plugin supervisor, the Host service, an embedded NATS) and tests the
// protocol, the lifecycle and robustness against hostile items.
//
// Every built-in block and the example third-party block pass it. Use it
// in your block's tests:
//
//	func TestConformance(t *testing.T) {
//		bin := conformance.Build(t, ".")
//		conformance.Run(t, bin, conformance.Case{Config: `{"fields": {}}`})
//	}
package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// Case is one configuration of the block under test.
type Case struct {
	// Config is the block's `with:` as JSON.
	Config string
	// WorkflowDir is where relative paths in Config resolve (default: the
	// test's working directory).
	WorkflowDir string
	// Items are the fields of the items a step is given; a few hostile
	// items are always added.
	Items []map[string]any
	// MinItems is the least number of items a source must read.
	MinItems int
}

// Build compiles the block's main package at pkg (a directory or import
// path) into a temporary directory and returns the binary's path. The
// binary is named after the block's own Describe name, as the host finds
// blocks by file name.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "block")
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build block %s: %v", pkg, err)
	}
	p, err := pluginhost.Launch(out, slog.New(slog.NewTextHandler(newTestWriter(t), nil)))
	if err != nil {
		t.Fatalf("start block %s: %v", pkg, err)
	}
	d, err := p.Describe(context.Background())
	p.Kill()
	if err != nil {
		t.Fatalf("describe block %s: %v", pkg, err)
	}
	named := filepath.Join(dir, d.Name)
	if err := os.Rename(out, named); err != nil {
		t.Fatalf("name block binary %q: %v", d.Name, err)
	}
	return named
}

// Env is a running host for blocks: an embedded NATS with paperflow's
// streams and an engine serving the Host service.
type Env struct {
	Bus    *bus.Bus
	Engine *engine.Engine
	Outbox mail.Outbox
}

// NewEnv starts an embedded NATS in a temporary directory and an engine.
func NewEnv(t testing.TB, pluginDir string) *Env {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("embedded NATS: %v", err)
	}
	t.Cleanup(b.Close)
	outbox := mail.Outbox{Dir: filepath.Join(dir, "outbox")}
	e, err := engine.New(ctx, engine.Options{
		Bus: b, Plugins: pluginhost.Registry{Dir: pluginDir}, PublicURL: "http://127.0.0.1:1",
		Mail: outbox, Log: slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelWarn})),
		RetryDelay: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	return &Env{Bus: b, Engine: e, Outbox: outbox}
}

// testWriter sends log lines to the test's log until the test ends; a
// block process may still log (exiting) after that, which testing forbids.
type testWriter struct{ w *safeWriter }

type safeWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func newTestWriter(t testing.TB) testWriter {
	w := &safeWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return testWriter{w}
}

func (tw testWriter) Write(p []byte) (int, error) {
	tw.w.mu.Lock()
	defer tw.w.mu.Unlock()
	if !tw.w.done {
		tw.w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// hostile are items every step must survive: it may fail them, never crash.
var hostile = []map[string]any{
	{"Name": "{{ .secrets.TOKEN }}", "Email": "{{Email}}@example.com"},
	{"Name": "<script>alert(1)</script>", "Note": "a\x00b\r\nBcc: victim@example.com"},
	{"Name": strings.Repeat("W", 100_000)},
	{"Name": "\u202eevil\u202c 🙂 مرحبا"},
	{},
}

// Run checks the block binary at bin with each case.
func Run(t *testing.T, bin string, cases ...Case) {
	t.Helper()
	env := NewEnv(t, filepath.Dir(bin))
	desc := checkDescribe(t, bin)
	t.Run("refuses to run by hand", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin).CombinedOutput()
		if err == nil || ctx.Err() != nil {
			t.Fatalf("running %s by hand: want a quick non-zero exit, got err=%v", bin, err)
		}
		if !strings.Contains(string(out), "paperflow") {
			t.Errorf("running by hand should say it is a paperflow block; said %q", out)
		}
	})
	for i, c := range cases {
		t.Run(fmt.Sprintf("case %d", i), func(t *testing.T) {
			dir := c.WorkflowDir
			if dir == "" {
				dir, _ = os.Getwd()
			}
			checkConfigValid(t, desc, c.Config)
			blk, err := pluginhost.Start(context.Background(), pluginhost.Spec{
				Instance: pluginhost.Instance{Workflow: "conformance", BlockID: desc.Name},
				Uses:     desc.Name, Path: bin, Config: []byte(c.Config), WorkflowDir: dir, PublicURL: "http://127.0.0.1:1",
			}, env.Engine, slog.New(slog.NewTextHandler(newTestWriter(t), nil)))
			if err != nil {
				t.Fatalf("start and configure: %v", err)
			}
			defer blk.Close()
			switch desc.Kind {
			case sdk.KindStep:
				checkStep(t, env, blk, c)
			case sdk.KindSource:
				checkSource(t, blk, c)
			case sdk.KindSink:
				checkSink(t, blk)
			}
			checkRestart(t, blk, desc)
		})
	}
}

func checkDescribe(t *testing.T, bin string) pluginhost.Description {
	t.Helper()
	p, err := pluginhost.Launch(bin, slog.New(slog.NewTextHandler(newTestWriter(t), nil)))
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	defer p.Kill()
	d, err := p.Describe(context.Background())
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if d.Name != filepath.Base(bin) {
		t.Errorf("Describe name %q differs from binary name %q: the host finds blocks by file name", d.Name, filepath.Base(bin))
	}
	if d.Kind == "" {
		t.Errorf("Describe kind is unset")
	}
	if d.Version == "" {
		t.Errorf("Describe version is empty")
	}
	if _, err := compileSchema(d.ConfigSchema); err != nil {
		t.Errorf("config schema does not compile: %v", err)
	}
	for _, ev := range d.Events {
		if _, err := events.ParseType(ev); err != nil {
			t.Errorf("Describe lists event %q: %v", ev, err)
		}
	}
	return d
}

func compileSchema(raw []byte) (*jsonschema.Schema, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("empty config schema: describe the block's `with:` as a JSON Schema")
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource("config.json", strings.NewReader(string(raw))); err != nil {
		return nil, err
	}
	return c.Compile("config.json")
}

func checkConfigValid(t *testing.T, d pluginhost.Description, config string) {
	t.Helper()
	s, err := compileSchema(d.ConfigSchema)
	if err != nil {
		return
	}
	var v any
	if err := json.Unmarshal([]byte(orEmpty(config)), &v); err != nil {
		t.Fatalf("case config is not JSON: %v", err)
	}
	if err := s.Validate(v); err != nil {
		t.Fatalf("case config does not match the block's own schema: %v", err)
	}
}

func orEmpty(s string) string {
	if s == "" {
		return "{}"
	}
	return s
}

func wireItems(fields []map[string]any) []*blockv1.Item {
	out := make([]*blockv1.Item, len(fields))
	for i, f := range fields {
		raw, _ := json.Marshal(f)
		out[i] = &blockv1.Item{Id: fmt.Sprint(i + 1), RunId: "conformance-run", Origin: fmt.Sprintf("test:%d", i+1), Fields: raw}
	}
	return out
}

func checkStep(t *testing.T, env *Env, blk *pluginhost.Block, c Case) {
	ctx := context.Background()
	if res, err := blk.Process(ctx, nil); err != nil || len(res) != 0 {
		t.Errorf("empty batch: want 0 results, got %d, err %v", len(res), err)
	}
	items := append(append([]map[string]any{}, c.Items...), hostile...)
	res, err := blk.Process(ctx, wireItems(items))
	if err != nil {
		t.Fatalf("process %d items (incl. hostile ones): %v", len(items), err)
	}
	for i, r := range res {
		if r.ItemId != fmt.Sprint(i+1) {
			t.Errorf("result %d is for item %q: results must keep the order of items", i, r.ItemId)
		}
		if i < len(c.Items) && r.Error != "" {
			t.Errorf("item %d failed: %s", i+1, r.Error)
		}
		if len(r.Outputs) > 0 {
			var m map[string]any
			if err := json.Unmarshal(r.Outputs, &m); err != nil {
				t.Errorf("item %d: outputs are not a JSON object: %v", i+1, err)
			}
		}
		for _, ev := range r.Events {
			_, raw, err := events.New(events.Metadata{Workflow: "conformance", RunID: "r", ItemID: r.ItemId, BlockID: "b", CreatedAt: time.Now()}, events.Type(ev.Type), json.RawMessage(ev.Data))
			if err == nil {
				err = env.Engine.Validator().Validate(raw)
			}
			if err != nil {
				t.Errorf("item %d: %s event does not validate: %v", i+1, ev.Type, err)
			}
		}
	}
}

func checkSource(t *testing.T, blk *pluginhost.Block, c Case) {
	ctx := context.Background()
	read := func(skip int64) []*blockv1.Item {
		var all []*blockv1.Item
		if err := blk.Read(ctx, "conformance-run", skip, func(b []*blockv1.Item) error { all = append(all, b...); return nil }); err != nil {
			t.Fatalf("read (skip %d): %v", skip, err)
		}
		return all
	}
	all := read(0)
	if len(all) < c.MinItems {
		t.Fatalf("read %d items, want at least %d", len(all), c.MinItems)
	}
	for i, it := range all {
		if it.Error == "" {
			var m map[string]any
			if err := json.Unmarshal(it.Fields, &m); err != nil {
				t.Errorf("item %d: fields are not a JSON object: %v", i+1, err)
			}
		}
		if it.Origin == "" {
			t.Errorf("item %d has no origin: errors could not say where it came from", i+1)
		}
	}
	if len(all) >= 2 {
		tail := read(1)
		if len(tail) != len(all)-1 || tail[0].Origin != all[1].Origin {
			t.Errorf("read with skip 1: got %d items starting at %q, want %d starting at %q", len(tail), originOf(tail), len(all)-1, all[1].Origin)
		}
	}
}

func originOf(items []*blockv1.Item) string {
	if len(items) == 0 {
		return ""
	}
	return items[0].Origin
}

func checkSink(t *testing.T, blk *pluginhost.Block) {
	res, err := blk.Deliver(context.Background(), nil)
	if err != nil || len(res) != 0 {
		t.Errorf("empty delivery batch: want 0 results, got %d, err %v", len(res), err)
	}
}

// checkRestart kills the block's process and checks the supervisor brings
// a configured one back on the next call.
func checkRestart(t *testing.T, blk *pluginhost.Block, d pluginhost.Description) {
	before := blk.Restarts()
	blk.KillProcess()
	var err error
	switch d.Kind {
	case sdk.KindStep:
		_, err = blk.Process(context.Background(), wireItems([]map[string]any{{}}))
	case sdk.KindSink:
		_, err = blk.Deliver(context.Background(), nil)
	case sdk.KindSource:
		err = blk.Read(context.Background(), "conformance-run", 0, func([]*blockv1.Item) error { return nil })
	}
	if err != nil {
		t.Fatalf("call after the process was killed: %v", err)
	}
	if blk.Restarts() != before+1 {
		t.Errorf("restarts: got %d, want %d", blk.Restarts(), before+1)
	}
}
