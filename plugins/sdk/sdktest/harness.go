package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// Config configures one instance of the block under test, as the host's
// Configure would.
type Config struct {
	// Workflow and BlockID name the instance (default "test" and "block").
	Workflow, BlockID string
	// With is the block's `with:` as JSON.
	With string
	// WorkflowDir is where relative paths in With resolve (default ".").
	WorkflowDir string
	// PublicURL is the host's base URL for links (default the Host's BaseURL).
	PublicURL string
	// Host serves the instance (default a new in-memory Host).
	Host *Host
}

func (c Config) withDefaults() Config {
	if c.Workflow == "" {
		c.Workflow = "test"
	}
	if c.BlockID == "" {
		c.BlockID = "block"
	}
	if c.WorkflowDir == "" {
		c.WorkflowDir = "."
	}
	if c.Host == nil {
		c.Host = NewHost()
	}
	if c.PublicURL == "" {
		c.PublicURL = c.Host.baseURL()
	}
	return c
}

// Result is what a step made of one item, as the host receives it: an
// error is its message and whether it is retryable.
type Result struct {
	ItemID    string
	Outputs   map[string]any
	Documents []sdk.Document
	Events    []sdk.EventData
	Err       string
	Retryable bool
	Skipped   bool
}

// Runner starts instances of one block, in process or in a plugin process.
type Runner interface {
	// Describe asks the block what it is.
	Describe(ctx context.Context) (sdk.Descriptor, error)
	// Configure makes and configures a new instance; Configure's error is
	// the block's rejection of the configuration.
	Configure(ctx context.Context, c Config) (Instance, error)
}

// Instance is one configured block under test.
type Instance interface {
	// Process runs a step over a batch of items.
	Process(ctx context.Context, items []sdk.Item) ([]Result, error)
	// Read runs a source to its end and returns every item it emitted.
	Read(ctx context.Context, req sdk.ReadRequest) ([]sdk.Item, error)
	// Deliver hands a sink a batch of events.
	Deliver(ctx context.Context, events []sdk.Event) ([]sdk.Delivery, error)
	// Scheduled fires a callback the block registered with Host.Schedule.
	Scheduled(ctx context.Context, key string, payload []byte) error
	// Close releases the instance, as the host does when it is done.
	Close()
}

// Items makes a batch of items from field maps, with ids "1".."n", run
// "test-run" and origins "test:1".."test:n".
func Items(fields ...map[string]any) []sdk.Item {
	out := make([]sdk.Item, len(fields))
	for i, f := range fields {
		raw, err := json.Marshal(f)
		if err != nil {
			panic(fmt.Sprintf("sdktest: item %d: %v", i+1, err))
		}
		out[i] = sdk.Item{ID: fmt.Sprint(i + 1), RunID: "test-run", Origin: fmt.Sprintf("test:%d", i+1), RawFields: raw}
	}
	return out
}

// Output is what processing a batch produced: the results and everything
// the block left on its host.
type Output struct {
	Results []Result
	Host    *Host
}

// Events returns the events of every result, in item order, followed by
// those the block emitted through the host.
func (o Output) Events() []sdk.EventData {
	var out []sdk.EventData
	for _, r := range o.Results {
		out = append(out, r.Events...)
	}
	for _, e := range o.Host.Emitted() {
		out = append(out, e.EventData)
	}
	return out
}

// Process configures a new instance of the block with c, processes items
// (made with Items) as one batch, releases the instance and returns the
// outcome. It fails the test when Configure or the batch fails.
func Process(t testing.TB, r Runner, c Config, items ...map[string]any) Output {
	t.Helper()
	c = c.withDefaults()
	ctx := context.Background()
	in, err := r.Configure(ctx, c)
	if err != nil {
		t.Fatalf("configure: %v", err)
	}
	defer in.Close()
	res, err := in.Process(ctx, Items(items...))
	if err != nil {
		t.Fatalf("process %d items: %v", len(items), err)
	}
	return Output{Results: res, Host: c.Host}
}

// inProcess calls the Block's methods directly.
type inProcess struct {
	newBlock func() sdk.Block
}

// InProcess runs the block in the test's own process: Configure and the
// calls go straight to values made by newBlock, with the Host in-memory.
// Use it for fast tests of a block's logic; Plugin for the real boundary.
func InProcess(newBlock func() sdk.Block) Runner { return inProcess{newBlock} }

func (r inProcess) Describe(context.Context) (sdk.Descriptor, error) {
	return r.newBlock().Describe(), nil
}

func (r inProcess) Configure(ctx context.Context, c Config) (Instance, error) {
	c = c.withDefaults()
	b := r.newBlock()
	err := b.Configure(ctx, sdk.Config{
		Workflow: c.Workflow, BlockID: c.BlockID, With: json.RawMessage(c.With),
		WorkflowDir: c.WorkflowDir, PublicURL: c.PublicURL, Host: c.Host,
	})
	if err != nil {
		return nil, err
	}
	return direct{b}, nil
}

type direct struct{ b sdk.Block }

// as is the block as a T (a Step, Source, Sink or Scheduler); notOne ends
// the error for a block that is not one ("is not a step").
func as[T any](b sdk.Block, notOne string) (T, error) {
	t, ok := b.(T)
	if !ok {
		return t, fmt.Errorf("%s %s", b.Describe().Name, notOne)
	}
	return t, nil
}

// oneEach calls a batch method of the block as a T and holds it to one
// answer per input, in order, as the plugin server does; the error names
// the answers and the inputs ("results", "items").
func oneEach[T, In, Out any](b sdk.Block, notOne string, in []In, answers, inputs string, call func(T, []In) []Out) ([]Out, error) {
	t, err := as[T](b, notOne)
	if err != nil {
		return nil, err
	}
	out := call(t, in)
	if len(out) != len(in) {
		return nil, fmt.Errorf("block returned %d %s for %d %s", len(out), answers, len(in), inputs)
	}
	return out, nil
}

func (d direct) Process(ctx context.Context, items []sdk.Item) ([]Result, error) {
	res, err := oneEach(d.b, "is not a step", items, "results", "items",
		func(step sdk.Step, items []sdk.Item) []sdk.Result { return step.Process(ctx, items) })
	if err != nil {
		return nil, err
	}
	out := make([]Result, len(res))
	for i, r := range res {
		// Through the same conversion as the wire, so outputs compare alike
		// in process and in a plugin process.
		p, err := sdk.ResultToProto(items[i].ID, r)
		if err != nil {
			return nil, err
		}
		if out[i], err = resultFromProto(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d direct) Read(ctx context.Context, req sdk.ReadRequest) ([]sdk.Item, error) {
	src, err := as[sdk.Source](d.b, "is not a source")
	if err != nil {
		return nil, err
	}
	var all []sdk.Item
	err = src.Read(ctx, req, func(batch []sdk.Item) error { all = append(all, batch...); return nil })
	return all, err
}

func (d direct) Deliver(ctx context.Context, events []sdk.Event) ([]sdk.Delivery, error) {
	return oneEach(d.b, "is not a sink", events, "deliveries", "events",
		func(sink sdk.Sink, events []sdk.Event) []sdk.Delivery { return sink.Deliver(ctx, events) })
}

func (d direct) Scheduled(ctx context.Context, key string, payload []byte) error {
	s, err := as[sdk.Scheduler](d.b, "takes no scheduled callbacks")
	if err != nil {
		return err
	}
	return s.Scheduled(ctx, key, payload)
}

func (direct) Close() {}
