package engine_test

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

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
)

// pluginDir holds the blocks the tests use, built once per test binary;
// newEnv sets it.
var (
	pluginDir     string
	pluginDirOnce sync.Once
)

func TestMain(m *testing.M) { hosttest.Main(m) }

type testEnv struct {
	bus    *bus.Bus
	engine *engine.Engine
	dir    string
}

func newEnv(t *testing.T, tweaks ...func(*engine.Options)) *testEnv {
	t.Helper()
	env := hosttest.Start(t, hosttest.Options{Blocks: []string{"csv", "noop", "testblock"}, Engine: func(o *engine.Options) {
		for _, tw := range tweaks {
			tw(o)
		}
	}})
	pluginDirOnce.Do(func() { pluginDir = env.PluginDir })
	return &testEnv{bus: env.Bus, engine: env.Engine, dir: env.Dir}
}

// load writes a workflow and its CSV into a temp dir and loads it.
func (env *testEnv) load(t *testing.T, wfYAML, csvText string, secrets workflow.Secrets) *workflow.Workflow {
	t.Helper()
	return loadWorkflow(t, env.engine.Catalog(), wfYAML, csvText, workflow.WithSecrets(secrets))
}

// loadWorkflow writes wfYAML and its items.csv into a temporary
// directory and loads the workflow against cat (any engine's catalog, for
// tests of several hosts).
func loadWorkflow(t *testing.T, cat workflow.Catalog, wfYAML, csvText string, opts ...workflow.Option) *workflow.Workflow {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "items.csv"), []byte(csvText), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "wf.yaml")
	if err := os.WriteFile(file, []byte(wfYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	wf, problems := workflow.Load(file, cat, opts...)
	if len(problems) > 0 {
		t.Fatalf("load workflow: %v", problems)
	}
	return wf
}

// published reads every event of a run straight from the stream.
func (env *testEnv) published(t *testing.T, runID string) []events.Envelope {
	return hosttest.RunEnvelopes(t, env.bus.JS, runID)
}

func TestRunThroughSteps(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	wf := env.load(t, `name: people
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: greet
    uses: testblock
    with: {emit: true, message: "Hello {{First Name}}", tag: "{{ .secrets.TAG }}"}
  - id: second
    uses: testblock
    with: {message: "after {{blocks.greet.message}}"}
`, "First Name,Name,behaviour\nZoë,Zoë Ångström,\nŁukasz,Łukasz Nowak,\nEve,{{ .secrets.TAG }},\n", workflow.Secrets{"TAG": "s3cret"})
	sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{Secrets: workflow.Secrets{"TAG": "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Items != 3 || sum.Succeeded != 3 || sum.Failed != 0 {
		t.Fatalf("summary: %+v", sum)
	}
	if sum.Events["DOCUMENTS_CREATED"] != 3 {
		t.Errorf("events: %v", sum.Events)
	}
	evs := env.published(t, sum.RunID)
	if len(evs) != 3 {
		t.Fatalf("published %d events, want 3", len(evs))
	}
	names := map[string]bool{}
	for _, ev := range evs {
		var data struct {
			Documents []struct{ Name string } `json:"documents"`
		}
		_ = json.Unmarshal(ev.Data, &data)
		names[data.Documents[0].Name] = true
		if ev.EventID != events.ID("people", sum.RunID, ev.Metadata.ItemID, "greet", events.DocumentsCreated) {
			t.Errorf("event id %s is not the deterministic one", ev.EventID)
		}
	}
	// A field value holding a tag is data: it arrives literally.
	for _, want := range []string{"Zoë Ångström.pdf", "Łukasz Nowak.pdf", "{{ .secrets.TAG }}.pdf"} {
		if !names[want] {
			t.Errorf("no document named %q in %v", want, names)
		}
	}
}

func TestBadItemsFailAloneAndTheRunGoesOn(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	wf := env.load(t, `name: faults
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: docs, uses: testblock, with: {emit: true}}
`, "Name,behaviour\nok1,\nrefuse,fail\nbad,bad-event\n\"broken,x\nok2,\nflaky,flaky\npanics,panic\n", nil)
	sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byOrigin := map[string]string{}
	for _, e := range sum.Errors {
		byOrigin[e.Origin] = e.Error
	}
	t.Logf("summary: %+v", sum)
	if sum.Succeeded < 3 { // ok1, ok2, flaky (after retries)
		t.Errorf("succeeded %d, want ok1, ok2 and flaky", sum.Succeeded)
	}
	for origin, want := range map[string]string{
		"items.csv:3": "refused",
		"items.csv:4": "not valid",
		"items.csv:8": "panic",
	} {
		if !strings.Contains(byOrigin[origin], want) {
			t.Errorf("%s: error %q should mention %q", origin, byOrigin[origin], want)
		}
	}
	// The invalid event was not published; the others were.
	for _, ev := range env.published(t, sum.RunID) {
		if strings.Contains(string(ev.Data), "not a url") {
			t.Errorf("invalid event was published: %s", ev.Data)
		}
	}
}

func TestCrashedAndHungPluginsAreRestarted(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(o *engine.Options) { o.CallTimeout = time.Second })
	wf := env.load(t, `name: crashes
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: docs, uses: testblock, with: {emit: true}}
  - {id: more, uses: testblock, with: {emit: true, behaviour_field: later}}
`, "Name,behaviour,later\na,,\nb,crash,\nc,,\nd,,hang\ne,,\n", nil)
	sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Succeeded != 5 || sum.Events["DOCUMENTS_CREATED"] != 10 {
		t.Fatalf("after a crash and a hang every item should succeed once: %+v", sum)
	}
	if n := len(env.published(t, sum.RunID)); n != 10 {
		t.Errorf("published %d events, want 10", n)
	}
}

// TestEventsValidateAgainstSchemaFiles reads the published events as an
// independent client and validates them with the schema files on disk.
func TestEventsValidateAgainstSchemaFiles(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	wf := env.load(t, `name: schemas
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: docs, uses: testblock, with: {emit: true}}
`, "Name\nA\nB\n", nil)
	sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	root, _ := filepath.Abs("../../schemas/events")
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(root, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			ID string `json:"$id"`
		}
		_ = json.Unmarshal(raw, &doc)
		if err := c.AddResource(doc.ID, strings.NewReader(string(raw))); err != nil {
			t.Fatal(err)
		}
	}
	var schemaID string
	raw, _ := os.ReadFile(filepath.Join(root, "documents_created.json"))
	var doc struct {
		ID string `json:"$id"`
	}
	_ = json.Unmarshal(raw, &doc)
	schemaID = doc.ID
	schema, err := c.Compile(schemaID)
	if err != nil {
		t.Fatal(err)
	}
	evs := env.published(t, sum.RunID)
	if len(evs) != 2 {
		t.Fatalf("got %d events", len(evs))
	}
	for _, ev := range evs {
		raw, _ := json.Marshal(ev)
		var v any
		_ = json.Unmarshal(raw, &v)
		if err := schema.Validate(v); err != nil {
			t.Errorf("event %s does not validate against %s: %v", ev.EventID, schemaID, err)
		}
	}
}

func TestEmptySourceAndVanishedSource(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	wf := env.load(t, "name: empty\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: a, uses: noop}\n", "Name\n", nil)
	sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil || sum.Items != 0 || sum.Failed != 0 {
		t.Fatalf("empty source: %+v, %v", sum, err)
	}
	// The file goes away between validation and the run: the run fails
	// with an error naming the source, and nothing hangs.
	wf = env.load(t, "name: vanished\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: a, uses: noop}\n", "Name\nA\n", nil)
	if err := os.Remove(filepath.Join(wf.Dir, "items.csv")); err != nil {
		t.Fatal(err)
	}
	_, err = env.engine.Run(context.Background(), wf, engine.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "items.csv") {
		t.Fatalf("want an error naming items.csv, got %v", err)
	}
}

// TestAnotherHostTakesOverTheSource: the host reading a run's source dies
// mid-source; a second host working on the run takes the source lease
// once it has been silent for ItemTimeout, reads on from the last queued
// item, and finishes the run with every item and event exactly once:
// with chunks as long as the source's batches, and with chunks that
// straddle them.
func TestAnotherHostTakesOverTheSource(t *testing.T) {
	if testing.Short() {
		t.Skip("takeover")
	}
	for _, tc := range []struct {
		name  string
		items int64
		batch int
	}{
		{"chunks of the source's batches", 60000, 256},
		{"chunks straddling the source's batches", 20000, 100},
	} {
		t.Run(tc.name, func(t *testing.T) { takeOverTheSource(t, tc.items, tc.batch) })
	}
}

func takeOverTheSource(t *testing.T, items int64, batch int) {
	fast := func(o *engine.Options) { o.ItemTimeout = time.Second; o.BatchSize = batch }
	env := newEnv(t, fast)
	var csv strings.Builder
	csv.WriteString("Name\n")
	for i := range items {
		fmt.Fprintf(&csv, "p%d\n", i)
	}
	wf := env.load(t, "name: takeover\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: a, uses: testblock, with: {emit: true}}\n", csv.String(), nil)
	second, err := engine.New(context.Background(), engine.Options{
		Bus: env.bus, Plugins: pluginhost.Registry{Dir: pluginDir}, PublicURL: "http://127.0.0.1:8080",
		Mail: mail.Outbox{Dir: t.TempDir()}, Log: hosttest.Logger(t, slog.LevelWarn), ItemTimeout: time.Second, BatchSize: batch,
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, die := context.WithCancel(context.Background())
	started := make(chan string, 1)
	firstDone := make(chan struct{})
	go func() {
		defer close(firstDone)
		_, _ = env.engine.Run(ctx, wf, engine.RunOptions{OnStart: func(id string) { started <- id }})
	}()
	id := <-started
	var at engine.RunInfo
	deadline := time.Now().Add(time.Minute)
	for {
		runs, _ := env.engine.Runs(context.Background())
		for _, r := range runs {
			if r.ID == id {
				at = r
			}
		}
		if at.Enqueued > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	die() // the first host stops mid-source, lease held, items in flight
	<-firstDone
	if at.SourceDone || at.Enqueued == 0 {
		t.Fatalf("the source was not mid-way when the first host died: %+v", at)
	}

	sum, err := second.Join(context.Background(), wf, id, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Items != items || sum.Succeeded != items {
		t.Errorf("summary after the takeover at %d queued: %d items, %d succeeded", at.Enqueued, sum.Items, sum.Succeeded)
	}
	ids := map[string]int{}
	for _, ev := range env.published(t, id) {
		ids[ev.EventID]++
	}
	if int64(len(ids)) != items {
		t.Errorf("%d distinct events, want %d", len(ids), items)
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("event %s published %d times", id, n)
		}
	}
}
