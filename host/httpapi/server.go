// Package httpapi is the host's HTTP server: health, metrics, documents at
// signed URLs, the pages and callbacks blocks serve
// (/blocks/<workflow>/<block>/), and the run API.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/metrics"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
)

// RunStarter starts a run of a workflow file and returns its id. The file
// has passed Workflows already. A file that does not load must come back
// as workflow.Problems, which the API answers with positions only; other
// errors are shown to the client as they are.
type RunStarter interface {
	StartRun(ctx context.Context, file, resume string) (string, error)
	ListRuns(ctx context.Context) (any, error)
}

// DeployedStarter starts (or resumes) a run of a deployed workflow:
// version, or the current one when version is empty. An error wrapping
// deploy.ErrNotFound or a *deploy.NameError means there is no such
// workflow or version.
type DeployedStarter interface {
	StartDeployed(ctx context.Context, name, version, resume string) (string, error)
}

// Server routes the host's HTTP requests.
type Server struct {
	Documents http.Handler
	Runs      RunStarter
	// Workflows are the workflow files POST /api/runs may start; nil
	// starts none.
	Workflows *Workflows
	// Deployed, when set, starts {"workflow": NAME} as the deployed
	// workflow NAME (at "version" or the current one), so that the API
	// runs every workflow the hosts serve, not only the files this one was
	// started with; without it a name is one of Workflows' files.
	Deployed DeployedStarter
	// Token guards /api/; empty refuses every API call.
	Token string
	Log   *slog.Logger
	// Subscriptions, when set, serves the webhook API under /public/webhook/.
	Subscriptions *Subscriptions
	// Deployments, when set, serves the deployed workflows under
	// /api/workflows.
	Deployments *Deployments
	// Items, when set, takes items for workflows' http triggers at
	// POST /api/workflows/{name}/items.
	Items *Items
	// Timeouts are the server's deadlines; zero fields take the constants
	// of limits.go.
	Timeouts Timeouts

	mu     sync.RWMutex
	blocks map[string]*pluginhost.Block // "<workflow>/<block>"
	ready  func() error
}

// Mount makes a block's routes reachable under /blocks/<workflow>/<block>/.
func (s *Server) Mount(workflow, block string, b *pluginhost.Block) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocks == nil {
		s.blocks = map[string]*pluginhost.Block{}
	}
	s.blocks[workflow+"/"+block] = b
}

// Unmount takes a block's routes away again: they answer 404.
func (s *Server) Unmount(workflow, block string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blocks, workflow+"/"+block)
}

// SetReady installs the readiness check behind /readyz.
func (s *Server) SetReady(f func() error) { s.ready = f }

// Handler returns the router. Every request is counted in
// paperflow_http_requests_total by route pattern and status code.
//
// GET /metrics serves the Prometheus metrics of package metrics. Like
// /healthz and /readyz it needs no API token: the figures hold no item data
// and no secrets (labels are workflow, block, sink and event type names).
// Where even those names are private, keep --http on a private address or
// put /metrics behind the proxy's own access control.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	metrics.KnownEventTypes(eventTypes()...)
	mux.Handle("GET /metrics", metrics.Handler())
	mux.Handle("GET /documents/", s.downloads(s.Documents))
	mux.HandleFunc("/blocks/{workflow}/{block}/", s.blockRoute)
	mux.HandleFunc("POST /api/runs", s.auth(s.startRun))
	mux.HandleFunc("GET /api/runs", s.auth(s.listRuns))
	if s.Subscriptions != nil {
		s.Subscriptions.Register(mux)
	}
	if s.Items != nil {
		s.Items.Register(mux)
	}
	if s.Deployments != nil {
		s.registerDeployments(mux)
	}
	return metrics.InstrumentHTTP(mux)
}

func eventTypes() []string {
	out := make([]string, len(events.Types))
	for i, t := range events.Types {
		out[i] = string(t)
	}
	return out
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.ready != nil {
		if err := s.ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = io.WriteString(w, "ready\n")
}

func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc { return requireToken(s.Token, next) }

// startRun answers POST /api/runs: {"file": "<path>"} or {"workflow":
// "<name>"} (with "version" when workflows are deployed), optionally with
// "resume": "<run id>". Only the workflows in s.Workflows or deployed run;
// anything else is 404 before any file is opened.
func (s *Server) startRun(w http.ResponseWriter, r *http.Request) {
	var req struct {
		File     string `json:"file"`
		Workflow string `json:"workflow"`
		Version  string `json:"version"`
		Resume   string `json:"resume"`
	}
	if !decode(w, r, &req) {
		return
	}
	if (req.File == "") == (req.Workflow == "") || (req.Version != "" && req.Workflow == "") {
		writeError(w, http.StatusBadRequest, `send {"workflow": "<name of a served workflow>", "version": "<version, optional>"} or {"file": "<workflow file path on the host>"}, optionally with "resume": "<run id>"`)
		return
	}
	if req.Workflow != "" && s.Deployed != nil {
		s.startDeployed(w, r, req.Workflow, req.Version, req.Resume)
		return
	}
	if req.Version != "" {
		writeError(w, http.StatusBadRequest, `this host keeps no deployed workflows: send {"workflow": "<name>"} without "version"`)
		return
	}
	wfs := s.Workflows
	if wfs == nil {
		wfs = &Workflows{}
	}
	var file string
	var err error
	if req.Workflow != "" {
		file, err = wfs.ByName(req.Workflow)
	} else {
		file, err = wfs.Resolve(req.File)
	}
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	id, err := s.Runs.StartRun(r.Context(), file, req.Resume)
	var problems workflow.Problems
	switch {
	case errors.As(err, &problems) && len(problems) > 0:
		at := positions(problems)
		s.Log.Warn("run API: the workflow file does not load", "file", file, "problems", len(problems), "first", at[0])
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error": fmt.Sprintf("workflow file %s does not load: %d problem(s), the first at %s; the API shows only where they are, "+
				"since their text can quote the file: run \"paperflow validate %s\" on the host to read them",
				file, len(problems), at[0], file),
			"problems": at,
		})
	case err != nil:
		writeError(w, http.StatusUnprocessableEntity, err.Error())
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"run_id": id})
	}
}

// startDeployed starts a run of a deployed workflow, as a run handed over
// by `paperflow run` starts.
func (s *Server) startDeployed(w http.ResponseWriter, r *http.Request, name, version, resume string) {
	id, err := s.Deployed.StartDeployed(r.Context(), name, version, resume)
	var ne *deploy.NameError
	switch {
	case errors.Is(err, deploy.ErrNotFound) || errors.As(err, &ne):
		writeError(w, http.StatusNotFound, err.Error())
	case err != nil:
		s.Log.Warn("run API: the deployed workflow did not start", "workflow", name, "version", version, "err", err)
		writeError(w, http.StatusUnprocessableEntity, err.Error())
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"run_id": id})
	}
}

// positions lists where each problem is, as file:line:col, without its
// message: a message quotes the keys and values it is about.
func positions(ps workflow.Problems) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		switch {
		case p.Line == 0:
			out[i] = p.File
		case p.Col == 0:
			out[i] = fmt.Sprintf("%s:%d", p.File, p.Line)
		default:
			out[i] = fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
		}
	}
	return out
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) {
	runs, err := s.Runs.ListRuns(r.Context())
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, runs)
}

func (s *Server) blockRoute(w http.ResponseWriter, r *http.Request) {
	wf, id := r.PathValue("workflow"), r.PathValue("block")
	s.mu.RLock()
	b := s.blocks[wf+"/"+id]
	s.mu.RUnlock()
	if b == nil {
		http.NotFound(w, r)
		return
	}
	// A page may take an upload and the block may take a while: the body
	// gets its own read deadline, the answer room for both and the call.
	t := s.Timeouts.withDefaults()
	s.extend(w, t.BlockBody, t.BlockBody+t.BlockCall+t.Write)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBlockRequest))
	if err != nil {
		bodyTooSlowOrLarge(w, err, MaxBlockRequest)
		return
	}
	prefix := "/blocks/" + wf + "/" + id
	// Internal stays unset: a block's host-only routes (sdk.HostCall) are
	// not reachable from here.
	req := &blockv1.HTTPRequest{
		Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, prefix), RawQuery: r.URL.RawQuery,
		Body: body, RemoteAddr: r.RemoteAddr,
	}
	for name, values := range r.Header {
		req.Headers = append(req.Headers, &blockv1.Header{Name: name, Values: values})
	}
	ctx, cancel := context.WithTimeout(r.Context(), t.BlockCall)
	defer cancel()
	resp, err := b.ServeHTTP(ctx, req)
	if err != nil {
		s.Log.Error("block route failed", "workflow", wf, "block", id, "err", err)
		http.Error(w, "the block could not answer; try again", http.StatusBadGateway)
		return
	}
	for _, h := range resp.Headers {
		for _, v := range h.Values {
			w.Header().Add(h.Name, v)
		}
	}
	status := int(resp.Status)
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.Body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
