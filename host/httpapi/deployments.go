package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/workflow"
)

// Deployments serves /api/workflows: the workflows deployed in NATS, as
// `paperflow deploy` and `paperflow workflows` handle them.
//
//	GET    /api/workflows                              list, with current versions
//	POST   /api/workflows                              deploy (body below)
//	GET    /api/workflows/{name}                       the current version and its files
//	GET    /api/workflows/{name}/versions/{version}    one version
//	GET    /api/workflows/{name}/history               deploys, rollbacks, deletes
//	POST   /api/workflows/{name}/rollback              {"version": "..."} or {} for the one before
//	DELETE /api/workflows/{name}                       stop serving it everywhere
//
// A deploy is one JSON object: the workflow file's text, where it sits
// among the files (default "workflow.yaml"), and every file it references
// in base64 by its path relative to the same root, so "../data/x.csv"
// from "flows/wf.yaml" is sent as "data/x.csv":
//
//	{"path": "flows/wf.yaml", "definition": "name: ...", "files": {"data/x.csv": "TmFtZQpBZGEK"}}
type Deployments struct {
	Store *deploy.Store
	// Load are the options an uploaded workflow loads with (secrets).
	Load []workflow.Option
	// Check, when set, checks a loaded workflow further, as `paperflow
	// validate` does (each block configures itself).
	Check func(ctx context.Context, wf *workflow.Workflow) workflow.Problems
}

// Limits of a deploy through the API: the files in base64, and the time
// to send them.
const (
	maxDeployRequest  = deploy.MaxBundleBytes/3*4 + 1<<20
	deployBodyTimeout = 5 * time.Minute
)

func (s *Server) registerDeployments(mux *http.ServeMux) {
	d := s.Deployments
	mux.HandleFunc("GET /api/workflows", s.auth(func(w http.ResponseWriter, r *http.Request) {
		list, err := d.Store.List(r.Context())
		s.answer(w, http.StatusOK, list, err)
	}))
	mux.HandleFunc("POST /api/workflows", s.auth(s.deployWorkflow))
	mux.HandleFunc("GET /api/workflows/{name}", s.auth(func(w http.ResponseWriter, r *http.Request) {
		v, err := d.Store.Version(r.Context(), r.PathValue("name"), "")
		s.answer(w, http.StatusOK, v, err)
	}))
	mux.HandleFunc("GET /api/workflows/{name}/versions/{version}", s.auth(func(w http.ResponseWriter, r *http.Request) {
		v, err := d.Store.Version(r.Context(), r.PathValue("name"), r.PathValue("version"))
		s.answer(w, http.StatusOK, v, err)
	}))
	mux.HandleFunc("GET /api/workflows/{name}/history", s.auth(func(w http.ResponseWriter, r *http.Request) {
		h, err := d.Store.History(r.Context(), r.PathValue("name"))
		s.answer(w, http.StatusOK, h, err)
	}))
	mux.HandleFunc("POST /api/workflows/{name}/rollback", s.auth(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Version string `json:"version"`
		}
		if r.ContentLength != 0 && !decode(w, r, &req) {
			return
		}
		res, err := d.Store.Rollback(r.Context(), r.PathValue("name"), req.Version, apiCaller(r))
		s.answer(w, http.StatusOK, res, err)
	}))
	mux.HandleFunc("DELETE /api/workflows/{name}", s.auth(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		err := d.Store.Delete(r.Context(), name, apiCaller(r))
		s.answer(w, http.StatusOK, map[string]string{"deleted": name}, err)
	}))
}

// deployRequest is the body of POST /api/workflows.
type deployRequest struct {
	Path       string            `json:"path"`
	Definition string            `json:"definition"`
	Files      map[string][]byte `json:"files"`
}

func (s *Server) deployWorkflow(w http.ResponseWriter, r *http.Request) {
	t := s.Timeouts.withDefaults()
	s.extend(w, deployBodyTimeout, deployBodyTimeout+t.Write)
	var req deployRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxDeployRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes: a workflow's files may add up to %d MiB", maxDeployRequest, deploy.MaxBundleBytes>>20))
		case errors.Is(err, os.ErrDeadlineExceeded):
			bodyTooSlowOrLarge(w, err, maxDeployRequest)
		default:
			writeError(w, http.StatusBadRequest, "request body: "+jsonProblem(err)+`; send {"path": "workflow.yaml", "definition": "<the workflow file>", "files": {"<path>": "<base64>"}}`)
		}
		return
	}
	if req.Definition == "" {
		writeError(w, http.StatusBadRequest, `"definition" is empty: send the workflow file's text`)
		return
	}
	if req.Path == "" {
		req.Path = "workflow.yaml"
	}
	if _, dup := req.Files[req.Path]; dup {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is both the definition's path and one of the files: send the workflow file once, as definition", req.Path))
		return
	}
	b := &deploy.Bundle{Workflow: req.Path, Files: req.Files}
	if b.Files == nil {
		b.Files = map[string][]byte{}
	}
	b.Files[req.Path] = []byte(req.Definition)
	d := s.Deployments
	wf, done, err := d.Store.LoadBundle(b, d.Load...)
	if err != nil {
		s.answer(w, 0, nil, err)
		return
	}
	defer done()
	if d.Check != nil {
		if problems := d.Check(r.Context(), wf); len(problems) > 0 {
			for i := range problems {
				problems[i].File = req.Path
			}
			s.answer(w, 0, nil, problems)
			return
		}
	}
	res, err := d.Store.Deploy(r.Context(), wf, b, apiCaller(r))
	status := http.StatusCreated
	if res != nil && res.Unchanged {
		status = http.StatusOK
	}
	s.answer(w, status, res, err)
}

// answer writes v with status, or the error as JSON with the status that
// fits it.
func (s *Server) answer(w http.ResponseWriter, status int, v any, err error) {
	var (
		be       *deploy.BundleError
		ne       *deploy.NameError
		problems workflow.Problems
	)
	switch {
	case err == nil:
		writeJSON(w, status, v)
	case errors.As(err, &be) && be.TooLarge:
		writeError(w, http.StatusRequestEntityTooLarge, be.Error())
	case errors.As(err, &be), errors.As(err, &ne):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, deploy.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.As(err, &problems):
		// The client sent the file: its problems may be shown in full.
		list := make([]string, len(problems))
		for i, p := range problems {
			list[i] = p.String()
		}
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error":    fmt.Sprintf("the workflow has %d problem(s); nothing was deployed", len(problems)),
			"problems": list,
		})
	default:
		s.Log.Error("workflows API", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error; see the host's log")
	}
}

// apiCaller names an API client in a workflow's history.
func apiCaller(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "api@" + host
}
