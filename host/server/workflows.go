package server

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/httpapi"
	"github.com/paperflow/paperflow/host/metrics"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// workflowSet is the set of workflows this host serves. For each it keeps
// the block instances that live as long as the host does, not a run:
// sinks (fed by the dispatcher), blocks with routes (mounted on the HTTP
// server) and, among those, the blocks that take scheduled callbacks.
// add and remove keep the dispatcher and the routes in step with the set,
// so whatever decides what a host serves (the files serve was given, a
// watch of deployed workflows) only says what is in it.
type workflowSet struct {
	engine     *engine.Engine
	api        *httpapi.Server
	dispatcher *delivery.Dispatcher
	secrets    workflow.Secrets
	publicURL  string
	settings   pluginhost.Settings
	log        *slog.Logger

	// triggers runs the triggers (on:) of the served workflows.
	triggers *hostTriggers

	mu     sync.Mutex
	served map[string]*servedWorkflow // by workflow name
}

// servedWorkflow is one workflow of the set and what runs for it.
type servedWorkflow struct {
	wf     *workflow.Workflow
	blocks map[string]*pluginhost.Block // by block id: sinks and blocks with routes
	sinks  []string                     // block ids the dispatcher feeds
	routed []string                     // block ids mounted on the HTTP server
}

// add starts the long-lived blocks of wf and mounts their routes. A
// workflow of the same name already served is replaced: its blocks stop
// first. When a block does not start, nothing of wf stays.
func (s *workflowSet) add(ctx context.Context, wf *workflow.Workflow) error {
	s.remove(wf.Name)
	sw := &servedWorkflow{wf: wf, blocks: map[string]*pluginhost.Block{}}
	if err := s.start(ctx, sw); err != nil {
		s.stop(sw)
		return err
	}
	s.mu.Lock()
	s.served[wf.Name] = sw
	s.mu.Unlock()
	metrics.KnownWorkflow(wf.Name)
	if s.triggers != nil {
		s.triggers.start(wf)
	}
	return nil
}

func (s *workflowSet) start(ctx context.Context, sw *servedWorkflow) error {
	wf := sw.wf
	for _, def := range append([]workflow.Block{wf.Source}, wf.Blocks...) {
		if def.Uses == "" {
			continue // no source: items come from http or a form
		}
		desc, err := s.engine.Catalog().Describe(ctx, def.Uses)
		if err != nil {
			return err
		}
		switch {
		case desc.Kind == sdk.KindSink:
			if err := s.startSink(ctx, sw, def, desc); err != nil {
				return err
			}
		case desc.HasRoutes:
			b, err := s.startBlock(ctx, wf, def, desc, def.ConfigJSON())
			if err != nil {
				return err
			}
			sw.blocks[def.ID] = b
			s.api.Mount(wf.Name, def.ID, b)
			sw.routed = append(sw.routed, def.ID)
		}
	}
	return nil
}

// startSink starts a sink block with its secrets resolved (the host, not
// the block, knows them) and has the dispatcher feed it the workflow's events.
func (s *workflowSet) startSink(ctx context.Context, sw *servedWorkflow, def workflow.Block, desc pluginhost.Description) error {
	wf := sw.wf
	with, err := delivery.ResolveSecrets(def.ConfigJSON(), s.secrets.Lookup)
	if err != nil {
		return fmt.Errorf("%s:%d: block %s: %w", wf.File, def.Line, def.ID, err)
	}
	b, err := s.startBlock(ctx, wf, def, desc, with)
	if err != nil {
		return err
	}
	sw.blocks[def.ID] = b
	t, err := delivery.BlockTarget(wf, &def, b)
	if err != nil {
		return err
	}
	metrics.KnownTarget(t.Ref())
	if err := s.dispatcher.Add(ctx, t); err != nil {
		return err
	}
	sw.sinks = append(sw.sinks, def.ID)
	return nil
}

func (s *workflowSet) startBlock(ctx context.Context, wf *workflow.Workflow, def workflow.Block, desc pluginhost.Description, config []byte) (*pluginhost.Block, error) {
	return pluginhost.Start(ctx, pluginhost.Spec{
		Instance: pluginhost.Instance{Workflow: wf.Name, BlockID: def.ID}, Uses: def.Uses, Path: desc.Path,
		Config: config, WorkflowDir: wf.Dir, PublicURL: s.publicURL, Settings: s.settings,
	}, s.engine, s.log)
}

// remove stops serving the workflow name: its sinks are no longer fed
// (their deliveries in flight finish first), its routes answer 404 and its
// blocks stop. Removing a workflow that is not served does nothing.
func (s *workflowSet) remove(name string) {
	s.mu.Lock()
	sw := s.served[name]
	delete(s.served, name)
	s.mu.Unlock()
	if s.triggers != nil {
		s.triggers.stop(name)
	}
	if sw != nil {
		s.stop(sw)
	}
}

func (s *workflowSet) stop(sw *servedWorkflow) {
	for _, id := range sw.sinks {
		s.dispatcher.Remove(sw.wf.Name, id)
	}
	for _, id := range sw.routed {
		s.api.Unmount(sw.wf.Name, id)
	}
	for _, b := range sw.blocks {
		b.Close()
	}
}

// block returns the running instance of a block of a served workflow, for
// its scheduled callbacks; nil when there is none.
func (s *workflowSet) block(workflow, id string) *pluginhost.Block {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sw := s.served[workflow]; sw != nil {
		return sw.blocks[id]
	}
	return nil
}

// names lists the served workflows, sorted.
func (s *workflowSet) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.served))
}

// close removes every workflow.
func (s *workflowSet) close() {
	for _, name := range s.names() {
		s.remove(name)
	}
}
