// Package hosttest runs the real paperflow host in tests: an embedded NATS
// and an engine in t.TempDir(), in the manner of nats-server's
// RunBasicJetStreamServer, with block binaries built once per test binary.
// A block's own logic is tested without it, with plugins/sdk/sdktest; this
// kit is for what needs the host (runs, checkpoints, events on NATS,
// delivery, supervision).
//
//	func TestMain(m *testing.M) { hosttest.Main(m) }
//
//	func TestRun(t *testing.T) {
//		env := hosttest.Start(t, hosttest.Options{Blocks: []string{"csv", "template"}})
//		wf := env.Load(t, wfYAML, map[string]string{"items.csv": "Name\nAda\n"})
//		sum, err := env.Engine.Run(ctx, wf, engine.RunOptions{})
//		...
//	}
package hosttest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
	"github.com/paperflow/paperflow/plugins/sdk/sdktest"
)

// Options says what host a test needs.
type Options struct {
	// Blocks are built into the plugin directory (see PluginDir).
	Blocks []string
	// PublicURL is the host's base URL for links (default
	// http://127.0.0.1:8080).
	PublicURL string
	// Engine adjusts the engine's options before it starts (timeouts, a
	// mail transport, batch sizes).
	Engine func(*engine.Options)
}

// Env is a running host: NATS with paperflow's streams and buckets, an
// engine serving the Host service to blocks, and an outbox for mail.
type Env struct {
	Bus       *bus.Bus
	Engine    *engine.Engine
	Outbox    mail.Outbox
	Log       *slog.Logger
	Dir       string // the host's data directory
	PluginDir string
}

// Start starts an embedded NATS in t.TempDir() and an engine on it; both
// stop when the test ends.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	env := &Env{Dir: t.TempDir(), PluginDir: PluginDir(t, o.Blocks...), Log: Logger(t, slog.LevelWarn)}
	env.Bus = StartBus(t, env.Dir)
	env.Outbox = mail.Outbox{Dir: filepath.Join(env.Dir, "outbox")}
	env.Engine = env.NewEngine(t, o)
	return env
}

// StartBus starts an embedded NATS storing under dir, closed when the test
// ends.
func StartBus(t testing.TB, dir string) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("embedded NATS: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// NewEngine starts another engine on the same bus and plugin directory, as
// a second `paperflow serve` process on one cluster would be.
func (env *Env) NewEngine(t testing.TB, o Options) *engine.Engine {
	t.Helper()
	opts := engine.Options{
		Bus: env.Bus, Plugins: pluginhost.Registry{Dir: env.PluginDir}, PublicURL: o.PublicURL,
		Mail: env.Outbox, Log: env.Log, RetryDelay: 20 * time.Millisecond,
	}
	if opts.PublicURL == "" {
		opts.PublicURL = "http://127.0.0.1:8080"
	}
	if o.Engine != nil {
		o.Engine(&opts)
	}
	e, err := engine.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	return e
}

// Load writes a workflow file and the files it names into a temporary
// directory and loads it against the engine's block catalog.
func (env *Env) Load(t testing.TB, wfYAML string, files map[string]string, opts ...workflow.Option) *workflow.Workflow {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "wf.yaml")
	if err := os.WriteFile(file, []byte(wfYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	wf, problems := workflow.Load(file, env.Engine.Catalog(), opts...)
	if len(problems) > 0 {
		t.Fatalf("load workflow: %v", problems)
	}
	return wf
}

// Events returns the envelopes published for a run, in stream order.
func (env *Env) Events(t testing.TB, runID string) []events.Envelope {
	return RunEnvelopes(t, env.Bus.JS, runID)
}

// Logger returns a logger into the test's log (see sdktest.Writer).
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(sdktest.Writer(t), &slog.HandlerOptions{Level: level}))
}

// RunEvents returns every event published for a run, as the raw envelopes
// in stream order, read by an independent consumer of PAPERFLOW_EVENTS.
func RunEvents(t testing.TB, js jetstream.JetStream, runID string) [][]byte {
	t.Helper()
	cons, err := js.OrderedConsumer(context.Background(), events.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	var out [][]byte
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			t.Fatalf("read events: %v", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var env events.Envelope
			if err := json.Unmarshal(m.Data(), &env); err != nil {
				t.Fatalf("event is not JSON: %v", err)
			}
			if env.Metadata.RunID == runID {
				out = append(out, append([]byte(nil), m.Data()...))
			}
		}
		if n == 0 {
			return out
		}
	}
}

// RunEnvelopes is RunEvents decoded.
func RunEnvelopes(t testing.TB, js jetstream.JetStream, runID string) []events.Envelope {
	t.Helper()
	var out []events.Envelope
	for _, raw := range RunEvents(t, js, runID) {
		var env events.Envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatalf("event is not JSON: %v", err)
		}
		out = append(out, env)
	}
	return out
}

// known are the blocks PluginDir builds by name alone, as paths from the
// repository root.
var known = map[string]string{
	"csv": "plugins/csv", "json": "plugins/json", "noop": "plugins/noop", "template": "plugins/template",
	"signature": "plugins/signature", "email": "plugins/email", "webhook": "plugins/webhook",
	"derive":    "examples/block-plugin",
	"testblock": "host/engine/testdata/blocks/testblock",
}

// built is the plugin directory of this test binary: every block is built
// into it once, whichever test asks first.
var built struct {
	mu    sync.Mutex
	dir   string
	names map[string]string // name → source directory
}

// PluginDir returns the plugin directory of this test binary, with the
// named blocks built into it (each once per test binary). A block is named
// as the host finds it: a built-in name ("csv", "template", "derive" for
// the example block, "testblock" for the engine's test block), or
// "name=dir" for a main package in dir, relative to the test's directory.
func PluginDir(t testing.TB, blocks ...string) string {
	t.Helper()
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.dir == "" {
		dir, err := os.MkdirTemp("", "paperflow-blocks-")
		if err != nil {
			t.Fatal(err)
		}
		built.dir, built.names = dir, map[string]string{}
	}
	for _, spec := range blocks {
		name, src, err := resolve(spec)
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := built.names[name]; ok {
			if prev != src {
				t.Fatalf("block %s: built from %s already, asked for %s", name, prev, src)
			}
			continue
		}
		if _, err := sdktest.BuildInto(built.dir, name, src); err != nil {
			t.Fatal(err)
		}
		built.names[name] = src
	}
	return built.dir
}

func resolve(spec string) (name, dir string, err error) {
	if n, d, ok := strings.Cut(spec, "="); ok {
		dir, err = filepath.Abs(d)
		return n, dir, err
	}
	rel, ok := known[spec]
	if !ok {
		return "", "", fmt.Errorf("hosttest: unknown block %q: name a built-in block or write name=dir", spec)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", "", err
	}
	return spec, filepath.Join(root, rel), nil
}

// RepoRoot is the root of the paperflow repository: the directory above
// the test's with the host module's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/paperflow/paperflow\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("hosttest: no paperflow go.mod above the test's directory")
		}
		dir = parent
	}
}

// Main runs the tests and removes the blocks built for them; call it from
// TestMain.
func Main(m *testing.M) {
	code := m.Run()
	built.mu.Lock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	built.mu.Unlock()
	os.Exit(code)
}

// BuildBlocks compiles block main packages into dir, each at the path
// given by its key (e.g. "plugins/csv"), from a directory relative to the
// test's; for tests that lay out a whole installation (the CLI's).
func BuildBlocks(dir string, pkgs map[string]string) error {
	for name, src := range pkgs {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			return err
		}
		if _, err := sdktest.BuildInto(dir, name, src); err != nil {
			return err
		}
	}
	return nil
}
