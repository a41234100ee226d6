// Package conformance checks that a block behaves as the paperflow host
// expects, with sdktest's in-memory Host and no paperflow host, NATS or
// mail server: Describe is sane, the config schema compiles, Configure
// rejects a configuration that is not one, a step returns one result per
// item in order (and survives hostile items), a source reads and skips, a
// sink answers an empty batch, and every event validates against the
// event schemas.
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
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/sdktest"
)

// EventSchemas is a copy of the repository's schemas/events, which the
// host validates every event against before publishing it: the SDK module
// cannot import the host's. A test in the host module (host/hosttest)
// fails when the copy is stale; `go generate` refreshes it.
//
//go:generate sh -c "rm -f schemas/events/*.json && cp ../../../schemas/events/*.json schemas/events/"
//go:embed schemas/events/*.json
var EventSchemas embed.FS

// Case is one configuration of the block under test.
type Case struct {
	// Config is the block's `with:` as JSON.
	Config string
	// Invalid are configurations Configure must reject, beyond the one
	// every block with a configuration must (a with that is not an object).
	Invalid []string
	// WorkflowDir is where relative paths in Config resolve (default: the
	// test's working directory).
	WorkflowDir string
	// Items are the fields of the items a step is given; a few hostile
	// items are always added.
	Items []map[string]any
	// MinItems is the least number of items a source must read.
	MinItems int
}

// Build compiles the block's main package in dir into a temporary
// directory and returns the binary's path, named after the block's
// Describe name as the host finds blocks by file name.
func Build(t testing.TB, dir string) string {
	t.Helper()
	return sdktest.Build(t, dir)
}

// hostile are items every step must survive: it may fail them, never crash.
var hostile = []map[string]any{
	{"Name": "{{ .secrets.TOKEN }}", "Email": "{{Email}}@example.com"},
	{"Name": "<script>alert(1)</script>", "Note": "a\x00b\r\nBcc: victim@example.com"},
	{"Name": strings.Repeat("W", 100_000)},
	{"Name": "\u202eevil\u202c 🙂 مرحبا"},
	{},
}

// Run checks the block binary at bin through the real plugin boundary
// with each case.
func Run(t *testing.T, bin string, cases ...Case) {
	t.Helper()
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
	d := run(t, sdktest.Plugin(t, bin), cases)
	if d.Name != filepath.Base(bin) {
		t.Errorf("Describe name %q differs from binary name %q: the host finds blocks by file name", d.Name, filepath.Base(bin))
	}
}

// RunInProcess checks the block made by newBlock in the test's process,
// for a quick check while developing; Run is the complete one.
func RunInProcess(t *testing.T, newBlock func() sdk.Block, cases ...Case) {
	t.Helper()
	run(t, sdktest.InProcess(newBlock), cases)
}

func run(t *testing.T, r sdktest.Runner, cases []Case) sdk.Descriptor {
	t.Helper()
	ctx := context.Background()
	d, err := r.Describe(ctx)
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	checkDescribe(t, d)
	for i, c := range cases {
		t.Run(fmt.Sprintf("case %d", i), func(t *testing.T) {
			checkConfigValid(t, d, c.Config)
			dir := c.WorkflowDir
			if dir == "" {
				dir, _ = os.Getwd()
			}
			cfg := sdktest.Config{Workflow: "conformance", BlockID: d.Name, With: orEmpty(c.Config), WorkflowDir: dir}
			invalid := c.Invalid
			if takesConfig(d) {
				invalid = append([]string{`["not", "an", "object"]`}, invalid...)
			}
			for _, bad := range invalid {
				bc := cfg
				bc.With = bad
				if in, err := r.Configure(ctx, bc); err == nil {
					in.Close()
					t.Errorf("Configure accepted %s: it must reject a configuration it cannot use", bad)
				}
			}
			in, err := r.Configure(ctx, cfg)
			if err != nil {
				t.Fatalf("configure: %v", err)
			}
			defer in.Close()
			switch d.Kind {
			case sdk.KindStep:
				checkStep(t, in, c)
			case sdk.KindSource:
				checkSource(t, in, c)
			case sdk.KindSink:
				checkSink(t, in)
			}
		})
	}
	return d
}

func checkDescribe(t *testing.T, d sdk.Descriptor) {
	t.Helper()
	switch d.Kind {
	case sdk.KindSource, sdk.KindStep, sdk.KindSink:
	default:
		t.Errorf("Describe kind %q is none of source, step, sink", d.Kind)
	}
	if d.Name == "" {
		t.Errorf("Describe name is empty")
	}
	if d.Version == "" {
		t.Errorf("Describe version is empty")
	}
	if _, err := compileSchema(d.ConfigSchema); err != nil {
		t.Errorf("config schema does not compile: %v", err)
	}
	for _, ev := range d.Events {
		if _, err := eventSchema(ev); err != nil {
			t.Errorf("Describe lists event %q: %v", ev, err)
		}
	}
}

// takesConfig says whether the block's schema names any property; a block
// that takes no configuration may ignore what it is given.
func takesConfig(d sdk.Descriptor) bool {
	var s struct {
		Properties map[string]any `json:"properties"`
	}
	return json.Unmarshal(d.ConfigSchema, &s) == nil && len(s.Properties) > 0
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

func checkConfigValid(t *testing.T, d sdk.Descriptor, config string) {
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

func checkStep(t *testing.T, in sdktest.Instance, c Case) {
	ctx := context.Background()
	if res, err := in.Process(ctx, nil); err != nil || len(res) != 0 {
		t.Errorf("empty batch: want 0 results, got %d, err %v", len(res), err)
	}
	items := sdktest.Items(append(append([]map[string]any{}, c.Items...), hostile...)...)
	res, err := in.Process(ctx, items)
	if err != nil {
		t.Fatalf("process %d items (incl. hostile ones): %v", len(items), err)
	}
	if len(res) != len(items) {
		t.Fatalf("process %d items: got %d results", len(items), len(res))
	}
	for i, r := range res {
		if r.ItemID != items[i].ID {
			t.Errorf("result %d is for item %q: results must keep the order of items", i, r.ItemID)
		}
		if i < len(c.Items) && r.Err != "" {
			t.Errorf("item %d failed: %s", i+1, r.Err)
		}
		for _, ev := range r.Events {
			if err := ValidateEvent(ev); err != nil {
				t.Errorf("item %d: %v", i+1, err)
			}
		}
	}
}

func checkSource(t *testing.T, in sdktest.Instance, c Case) {
	ctx := context.Background()
	read := func(skip int64) []sdk.Item {
		all, err := in.Read(ctx, sdk.ReadRequest{RunID: "conformance-run", Skip: skip})
		if err != nil {
			t.Fatalf("read (skip %d): %v", skip, err)
		}
		return all
	}
	all := read(0)
	if len(all) < c.MinItems {
		t.Fatalf("read %d items, want at least %d", len(all), c.MinItems)
	}
	for i, it := range all {
		if it.Err == "" {
			var m map[string]any
			if err := json.Unmarshal(it.RawFields, &m); err != nil {
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

func originOf(items []sdk.Item) string {
	if len(items) == 0 {
		return ""
	}
	return items[0].Origin
}

func checkSink(t *testing.T, in sdktest.Instance) {
	res, err := in.Deliver(context.Background(), nil)
	if err != nil || len(res) != 0 {
		t.Errorf("empty delivery batch: want 0 results, got %d, err %v", len(res), err)
	}
}
