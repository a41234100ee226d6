package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paperflow/paperflow/host/console"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/httpapi"
	"github.com/paperflow/paperflow/host/workflow"
)

// StartRunSubject is where hosts take runs handed to them by `paperflow
// run`; one host of the queue group "paperflow-hosts" answers each.
const StartRunSubject = "paperflow.api.runs.start"

// StartRunRequest asks a host to start (or resume) a run: of a deployed
// workflow (Workflow, and Version or the current one), or of a workflow
// file on the host's disk. A resumed run keeps the version it started on.
type StartRunRequest struct {
	Workflow string `json:"workflow,omitempty"`
	Version  string `json:"version,omitempty"`
	File     string `json:"file,omitempty"`
	Resume   string `json:"resume,omitempty"`
}

// StartRunReply is a host's answer: the run id, or why it did not start.
type StartRunReply struct {
	RunID string `json:"run_id,omitempty"`
	Error string `json:"error,omitempty"`
}

func (s *Server) onStartRun(m *nats.Msg) {
	var req StartRunRequest
	reply := StartRunReply{}
	if err := json.Unmarshal(m.Data, &req); err != nil {
		reply.Error = "bad request: " + err.Error()
	} else if id, err := s.startRun(s.ctx, req); err != nil {
		reply.Error = err.Error()
	} else {
		reply.RunID = id
	}
	raw, _ := json.Marshal(reply)
	_ = m.Respond(raw)
}

// loadWorkflow loads a workflow file with this host's blocks and secrets.
func (s *Server) loadWorkflow(file string) (*workflow.Workflow, workflow.Problems) {
	return workflow.Load(file, s.cfg.Engine.Catalog(), workflow.WithSecrets(s.cfg.Secrets))
}

// StartRun validates a workflow file and runs it in the background. A
// file that does not load is answered with its workflow.Problems, which the
// HTTP API reduces to positions. It opens any path it is given: the HTTP
// API checks paths against httpapi.Workflows first, and `paperflow run`
// hands runs over through NATS, whose clients already hold credentials to
// everything the host keeps.
func (s *Server) StartRun(ctx context.Context, file, resume string) (string, error) {
	return s.startRun(ctx, StartRunRequest{File: file, Resume: resume})
}

// StartDeployed starts (or resumes) a run of the deployed workflow name
// at version, the current one when version is empty, as a run handed
// over by `paperflow run` starts: POST /api/runs {"workflow": name}.
func (s *Server) StartDeployed(ctx context.Context, name, version, resume string) (string, error) {
	return s.startRun(ctx, StartRunRequest{Workflow: name, Version: version, Resume: resume})
}

// StartUpload starts a run of the deployed workflow name on an uploaded
// file of items: the upload is stored as a file of a new version of the
// workflow (deploy.Store.DeployUpload) that is not made current, so what
// every host serves stays as it was, and the run starts on that version,
// which it records and every host that joins it loads.
func (s *Server) StartUpload(ctx context.Context, name, fileName string, data []byte) (string, error) {
	if s.cfg.Workflows == nil {
		return "", errors.New("this host keeps no deployed workflows to start an upload on")
	}
	v, err := s.cfg.Workflows.DeployUpload(ctx, name, "", fileName, data, "console@"+hostname())
	if err != nil {
		return "", fmt.Errorf("store the upload as a version of %s: %w", name, err)
	}
	return s.startRun(ctx, StartRunRequest{Workflow: name, Version: v.ID})
}

// startRun starts the run req asks for, on a deployed version when the
// host keeps deployed workflows (a file is deployed first).
func (s *Server) startRun(ctx context.Context, req StartRunRequest) (string, error) {
	wf, version, err := s.runWorkflow(ctx, req)
	if err != nil {
		return "", err
	}
	resume := req.Resume
	started := make(chan string, 1)
	failed := make(chan error, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sum, err := s.cfg.Engine.Run(s.ctx, wf, engine.RunOptions{
			RunID: resume, Secrets: s.cfg.Secrets, Version: version,
			OnStart: func(id string) { started <- id },
		})
		if err != nil {
			s.log.Error("run failed", "workflow", wf.Name, "err", err)
			failed <- err
			return
		}
		s.log.Info("run finished", "run", sum.RunID, "workflow", wf.Name, "items", sum.Items, "failed", sum.Failed)
	}()
	select {
	case id := <-started:
		return id, nil
	case err := <-failed:
		return "", err
	case <-s.ctx.Done():
		return "", errors.New("the host is shutting down")
	}
}

// ListRuns lists the runs kept in NATS.
func (s *Server) ListRuns(ctx context.Context) (any, error) { return s.cfg.Engine.Runs(ctx) }

// joinRuns has this host work on every running run started by another
// host on the same NATS (or left behind by a host that died), so several
// hosts share a run's items. A run whose workflow file this host cannot
// load is left to the others.
func (s *Server) joinRuns(ctx context.Context) {
	for ctx.Err() == nil {
		// A watch whose NATS node died can go quiet without closing: it is
		// made anew every minute (joining is idempotent).
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		w, err := s.cfg.Engine.WatchRuns(wctx)
		if err != nil {
			s.log.Warn("watch runs; trying again", "err", err)
		} else {
			for rec := range w {
				if rec.Status == "running" {
					s.join(ctx, rec)
				}
			}
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *Server) join(ctx context.Context, rec engine.RunInfo) {
	if s.cfg.Engine.Working(rec.ID) || s.isSkipped(rec.ID) {
		return
	}
	wf, err := s.joinWorkflow(ctx, rec)
	if err == nil && wf.Name != rec.Workflow {
		err = fmt.Errorf("the workflow loaded is %q, not the run's %q", wf.Name, rec.Workflow)
	}
	if err != nil {
		s.log.Warn("cannot join run: its workflow does not load here; other hosts will run it", "run", rec.ID, "workflow", rec.Workflow, "version", rec.Version, "file", rec.File, "err", err)
		s.skip(rec.ID)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sum, err := s.cfg.Engine.Join(ctx, wf, rec.ID, engine.RunOptions{Secrets: s.cfg.Secrets})
		switch {
		case errors.Is(err, engine.ErrJoined) || ctx.Err() != nil:
		case errors.Is(err, engine.ErrInterrupted):
			// Not skipped: after --resume the run is running again and
			// every host may join it.
			s.log.Info("left the interrupted run", "run", rec.ID, "workflow", wf.Name)
		case err != nil:
			// Not tried again: the other hosts carry the run.
			s.log.Warn("left the run; this host will not join it again", "run", rec.ID, "workflow", wf.Name, "err", err)
			s.skip(rec.ID)
		default:
			s.log.Info("joined run finished", "run", sum.RunID, "workflow", wf.Name, "items", sum.Items, "failed", sum.Failed)
		}
	}()
}

func (s *Server) isSkipped(runID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skipped[runID]
}

func (s *Server) skip(runID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skipped[runID] = true
}

// runSchedules delivers due scheduled callbacks to the blocks of the
// served workflows.
func (s *Server) runSchedules(ctx context.Context) {
	if err := s.cfg.Engine.ServeSchedules(ctx, s.workflows.block); err != nil && ctx.Err() == nil {
		s.log.Error("scheduled callbacks stopped", "err", err)
	}
}

var (
	_ httpapi.DeployedStarter = (*Server)(nil)
	_ console.Uploads         = (*Server)(nil)
)
