package pluginhost

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/paperflow/paperflow/host/workflow"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// Catalog describes blocks by name. Descriptions are kept for the life of
// the process per block binary (its path, size and modification time), so
// every catalog of a host shares them: a long-lived host starts a binary
// once to ask what it is, and again only when the file is rebuilt.
type Catalog struct {
	Registry Registry
	Log      *slog.Logger
}

// binaryID tells one build of a block binary from another.
type binaryID struct {
	path    string
	size    int64
	modTime time.Time
}

// describeResult is one binary's answer; done is closed once it is in.
type describeResult struct {
	done chan struct{}
	desc Description
	err  error
}

// descriptions are the answers of every block binary this process asked.
var descriptions = struct {
	mu    sync.Mutex
	known map[binaryID]*describeResult
}{known: map[binaryID]*describeResult{}}

// describeBinary asks the binary at path what it is; tests replace it.
var describeBinary = func(ctx context.Context, path string, log *slog.Logger) (Description, error) {
	p, err := Launch(path, log)
	if err != nil {
		return Description{}, err
	}
	defer p.Kill()
	return p.Describe(ctx)
}

// Describe returns the description of the block named uses. Concurrent
// callers for one binary wait for one answer, so a workflow using a block
// many times starts it once to ask. An answer cut short by a cancelled
// context is not kept.
func (c *Catalog) Describe(ctx context.Context, uses string) (Description, error) {
	path, err := c.Registry.Path(uses)
	if err != nil {
		return Description{}, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return Description{}, fmt.Errorf("block %q: %w", uses, err)
	}
	id := binaryID{path: path, size: st.Size(), modTime: st.ModTime()}
	descriptions.mu.Lock()
	r, ok := descriptions.known[id]
	if !ok {
		for old := range descriptions.known {
			if old.path == path { // an earlier build of this binary
				delete(descriptions.known, old)
			}
		}
		r = &describeResult{done: make(chan struct{})}
		descriptions.known[id] = r
	}
	descriptions.mu.Unlock()
	if ok {
		select {
		case <-r.done:
			return r.desc, r.err
		case <-ctx.Done():
			return Description{}, ctx.Err()
		}
	}
	r.desc, r.err = c.describe(ctx, uses, path)
	if r.err != nil && ctx.Err() != nil {
		descriptions.mu.Lock()
		delete(descriptions.known, id)
		descriptions.mu.Unlock()
	}
	close(r.done)
	return r.desc, r.err
}

func (c *Catalog) describe(ctx context.Context, uses, path string) (Description, error) {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	d, err := describeBinary(ctx, path, log.With("block", uses))
	if err != nil {
		return Description{}, err
	}
	if d.Name != uses {
		return Description{}, fmt.Errorf("block binary %s calls itself %q: rename the file to %s or fix its Describe", path, d.Name, d.Name)
	}
	return d, nil
}

// All describes every block in the plugin directory, starting them in
// parallel.
func (c *Catalog) All(ctx context.Context) ([]Description, []error) {
	names := c.Registry.Names()
	descs := make([]Description, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			descs[i], errs[i] = c.Describe(ctx, n)
		}()
	}
	wg.Wait()
	var out []Description
	var bad []error
	for i := range names {
		if errs[i] != nil {
			bad = append(bad, errs[i])
			continue
		}
		out = append(out, descs[i])
	}
	return out, bad
}

var _ workflow.Catalog = (*Catalog)(nil)

// Lookup answers the workflow loader: what kind of block uses names and
// its configuration schema. A block that cannot be started counts as
// unknown; Err says why.
func (c *Catalog) Lookup(uses string) (workflow.BlockSpec, bool) {
	d, err := c.Describe(context.Background(), uses)
	if err != nil {
		return workflow.BlockSpec{}, false
	}
	kind := map[sdk.Kind]workflow.Kind{sdk.KindSource: workflow.KindSource, sdk.KindStep: workflow.KindStep, sdk.KindSink: workflow.KindSink}[d.Kind]
	return workflow.BlockSpec{Kind: kind, ConfigSchema: d.ConfigSchema, Events: d.Events}, true
}

// Names lists the installed blocks.
func (c *Catalog) Names() []string { return c.Registry.Names() }

// Broken says why a block that is installed could not be described; nil
// when it is fine or not installed at all.
func (c *Catalog) Broken(uses string) error {
	if _, err := c.Registry.Path(uses); err != nil {
		return nil
	}
	_, err := c.Describe(context.Background(), uses)
	return err
}
