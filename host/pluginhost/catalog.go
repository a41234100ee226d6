package pluginhost

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/paperflow/paperflow/host/workflow"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// Catalog describes blocks by name, starting each binary once to ask it
// and caching the answer for the life of the catalog.
type Catalog struct {
	Registry Registry
	Log      *slog.Logger

	mu    sync.Mutex
	known map[string]*describeResult
}

// describeResult is one block's answer; done is closed once it is in.
type describeResult struct {
	done chan struct{}
	desc Description
	err  error
}

// Describe returns the description of the block named uses. Concurrent
// callers for one block wait for one answer, so a workflow using a block
// many times starts it once to ask.
func (c *Catalog) Describe(ctx context.Context, uses string) (Description, error) {
	c.mu.Lock()
	r, ok := c.known[uses]
	if !ok {
		if c.known == nil {
			c.known = map[string]*describeResult{}
		}
		r = &describeResult{done: make(chan struct{})}
		c.known[uses] = r
	}
	c.mu.Unlock()
	if ok {
		select {
		case <-r.done:
			return r.desc, r.err
		case <-ctx.Done():
			return Description{}, ctx.Err()
		}
	}
	r.desc, r.err = c.describe(ctx, uses)
	close(r.done)
	return r.desc, r.err
}

func (c *Catalog) describe(ctx context.Context, uses string) (Description, error) {
	path, err := c.Registry.Path(uses)
	if err != nil {
		return Description{}, err
	}
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	p, err := Launch(path, log.With("block", uses))
	if err != nil {
		return Description{}, err
	}
	defer p.Kill()
	d, err := p.Describe(ctx)
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
