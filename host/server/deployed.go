package server

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/workflow"
)

// followedSet lets deploy.Follow drive the set of served workflows. A
// deleted workflow's file, when serve was started with it, no longer
// starts through the run API either.
type followedSet struct{ set *workflowSet }

func (f followedSet) Add(ctx context.Context, wf *workflow.Workflow) error { return f.set.add(ctx, wf) }

func (f followedSet) Remove(name string) {
	f.set.api.Workflows.Remove(name)
	f.set.remove(name)
}

var _ deploy.Served = followedSet{}

// serveDeployed deploys the files serve was given, then serves every
// deployed workflow and follows deploys, rollbacks and deletes until the
// host closes. It returns once the workflows deployed at that moment are
// served, so Start returns with their routes mounted.
func (s *Server) serveDeployed(ctx context.Context) error {
	for _, f := range s.cfg.Files {
		wf, problems := s.loadWorkflow(f)
		if len(problems) > 0 {
			return fmt.Errorf("%s", problems.Error())
		}
		res, err := s.cfg.Workflows.DeployFile(ctx, wf, deployer())
		if err != nil {
			return fmt.Errorf("deploy %s: %w", f, err)
		}
		s.log.Info("deployed at start", "file", f, "workflow", res.Name, "version", res.Version, "unchanged", res.Unchanged)
		if err := s.api.Workflows.Add(wf.Name, f); err != nil {
			return err
		}
	}
	ready := make(chan struct{})
	s.goLong(func(ctx context.Context) {
		s.cfg.Workflows.Follow(ctx, followedSet{s.workflows}, deploy.FollowOptions{
			Load: s.loadOptions(), Ready: func() { close(ready) },
		})
	})
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) loadOptions() []workflow.Option {
	return []workflow.Option{workflow.WithSecrets(s.cfg.Secrets)}
}

// deployer names this host in a workflow's history.
func deployer() string { return "serve@" + hostname() }

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// runWorkflow is the workflow a handed-over run works on: a deployed
// version, the version a run being resumed started on, or a file deployed
// first when the host keeps deployed workflows.
func (s *Server) runWorkflow(ctx context.Context, req StartRunRequest) (*workflow.Workflow, string, error) {
	store := s.cfg.Workflows
	name, version := req.Workflow, req.Version
	if req.Resume != "" && store != nil {
		rec, err := s.cfg.Engine.RunRecord(ctx, req.Resume)
		if err != nil {
			return nil, "", err
		}
		if rec.Version != "" {
			// A run keeps the version it started on.
			name, version = rec.Workflow, rec.Version
		}
	}
	switch {
	case name != "" && store == nil:
		return nil, "", errors.New("this host keeps no deployed workflows; hand it a file")
	case name != "":
		wf, v, err := store.Load(ctx, name, version, s.loadOptions()...)
		if err != nil {
			return nil, "", err
		}
		return wf, v.ID, nil
	case req.File == "":
		return nil, "", errors.New(`name a workflow: {"workflow": "<name>", "version": "<version>"} or {"file": "<path>"}`)
	}
	wf, problems := s.loadWorkflow(req.File)
	if len(problems) > 0 {
		return nil, "", problems
	}
	if store == nil {
		return wf, "", nil
	}
	res, err := store.DeployFile(ctx, wf, deployer())
	if err != nil {
		return nil, "", fmt.Errorf("deploy %s: %w", req.File, err)
	}
	return wf, res.Version, nil
}

// joinWorkflow is the workflow of a run this host joins: the version the
// run records, from NATS, or its file for a run started before workflows
// were deployed.
func (s *Server) joinWorkflow(ctx context.Context, rec engine.RunInfo) (*workflow.Workflow, error) {
	if rec.Version != "" && s.cfg.Workflows != nil {
		wf, _, err := s.cfg.Workflows.Load(ctx, rec.Workflow, rec.Version, s.loadOptions()...)
		return wf, err
	}
	wf, problems := s.loadWorkflow(rec.File)
	if len(problems) > 0 {
		return nil, problems
	}
	return wf, nil
}
