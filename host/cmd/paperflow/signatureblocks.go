package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/signature/requests"
)

// signatureUses is the block the signatures commands ask.
const signatureUses = "signature"

// signatureBlocks are the signature blocks of the workflows, started in
// this process with the engine's services as a run starts them: the
// commands ask them through their host-only routes (internal HTTP calls)
// rather than reading their state, so no paperflow serve is needed.
type signatureBlocks struct {
	blocks []*pluginhost.Block
}

// startSignatureBlocks starts the signature block of every deployed
// workflow and of every run kept (only runID's when set), once per
// workflow and block id: a block's state belongs to that pair, whatever
// the version.
func startSignatureBlocks(ctx context.Context, cfg *config, b *bus.Bus, runID string, log *slog.Logger) (*signatureBlocks, error) {
	e, err := cfg.inspectEngine(ctx, b, log)
	if err != nil {
		return nil, err
	}
	secrets, err := workflow.LoadSecrets(cfg.secretFile, os.Environ())
	if err != nil {
		return nil, err
	}
	wfs, err := signatureWorkflows(ctx, cfg.deployStore(e.Store(), log), e, runID, secrets, log)
	if err != nil {
		return nil, err
	}
	sb := &signatureBlocks{}
	seen := map[pluginhost.Instance]bool{}
	for _, wf := range wfs {
		for _, def := range wf.Blocks {
			in := pluginhost.Instance{Workflow: wf.Name, BlockID: def.ID}
			if def.Uses != signatureUses || seen[in] {
				continue
			}
			seen[in] = true
			desc, err := e.Catalog().Describe(ctx, def.Uses)
			if err != nil {
				sb.close()
				return nil, fmt.Errorf("%s:%d: block %s: %w", wf.File, def.Line, def.ID, err)
			}
			blk, err := pluginhost.Start(ctx, pluginhost.Spec{
				Instance: in, Uses: def.Uses, Path: desc.Path, Config: def.ConfigJSON(), WorkflowDir: wf.Dir,
				PublicURL: cfg.public(), Settings: cfg.registry().Settings,
			}, e, log)
			if err != nil {
				sb.close()
				return nil, fmt.Errorf("%s:%d: %w", wf.File, def.Line, err)
			}
			sb.blocks = append(sb.blocks, blk)
		}
	}
	return sb, nil
}

// signatureWorkflows loads the deployed workflows (current versions, by
// name) and the runs' workflows (newest run first), or only runID's.
// A workflow that no longer loads here is skipped with a warning: the
// others still answer.
func signatureWorkflows(ctx context.Context, store *deploy.Store, e *engine.Engine, runID string, secrets workflow.Secrets, log *slog.Logger) ([]*workflow.Workflow, error) {
	type ref struct{ name, version, file string }
	var refs []ref
	if runID == "" {
		deployed, err := store.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, d := range deployed {
			refs = append(refs, ref{name: d.Name, version: d.Version})
		}
	}
	runs, err := signatureRuns(ctx, e, runID)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		refs = append(refs, ref{name: r.Workflow, version: r.Version, file: r.File})
	}
	var out []*workflow.Workflow
	loaded := map[ref]bool{}
	for _, r := range refs {
		if r.version != "" {
			r.file = "" // a version is found by name, wherever it was deployed from
		}
		if loaded[r] {
			continue
		}
		loaded[r] = true
		var wf *workflow.Workflow
		if r.version != "" {
			wf, _, err = store.Load(ctx, r.name, r.version, workflow.WithSecrets(secrets))
		} else if r.file != "" {
			var problems workflow.Problems
			if wf, problems = workflow.Load(r.file, e.Catalog(), workflow.WithSecrets(secrets)); len(problems) > 0 {
				err = problems
			}
		} else {
			continue
		}
		if err != nil {
			log.Warn("signatures: workflow skipped: it does not load here", "workflow", r.name, "version", r.version, "file", r.file, "err", err)
			continue
		}
		out = append(out, wf)
	}
	return out, nil
}

// signatureRuns is every run kept, or only runID's: a run that is not
// kept is an error naming it, not a run without requests.
func signatureRuns(ctx context.Context, e *engine.Engine, runID string) ([]engine.RunInfo, error) {
	if runID != "" {
		r, err := e.RunRecord(ctx, runID)
		if err != nil {
			return nil, err
		}
		return []engine.RunInfo{r}, nil
	}
	runs, err := e.Runs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return runs, nil
}

func (sb *signatureBlocks) close() {
	for _, b := range sb.blocks {
		b.Close()
	}
}

// askBlock makes an internal HTTP call to a block's host-only route and
// decodes a JSON answer into out; the status is returned for the caller
// to judge.
func askBlock(ctx context.Context, b *pluginhost.Block, method, path, query string, body, out any) (int, error) {
	req := &blockv1.HTTPRequest{Method: method, Path: path, RawQuery: query, Internal: true}
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		req.Body = raw
		req.Headers = []*blockv1.Header{{Name: "Content-Type", Values: []string{"application/json"}}}
	}
	resp, err := b.ServeHTTP(ctx, req)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return int(resp.Status), fmt.Errorf("block %s: %s %s: answer is not JSON (%d): %w", b.ID(), method, path, resp.Status, err)
	}
	return int(resp.Status), nil
}

// requests asks every block for its requests (of runID and itemID when
// set).
func (sb *signatureBlocks) requests(ctx context.Context, runID, itemID string) ([]signatureRequest, error) {
	out := []signatureRequest{}
	q := url.Values{}
	if runID != "" {
		q.Set("run", runID)
	}
	if itemID != "" {
		q.Set("item", itemID)
	}
	for _, b := range sb.blocks {
		var raw json.RawMessage
		status, err := askBlock(ctx, b, http.MethodGet, "/api/requests", q.Encode(), nil, &raw)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, blockRefused(b, status, raw)
		}
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("block %s: requests: %w", b.ID(), err)
		}
		for _, one := range list {
			var r signatureRequest
			if err := json.Unmarshal(one, &r); err != nil {
				return nil, fmt.Errorf("block %s: requests: %w", b.ID(), err)
			}
			r.Raw = one
			out = append(out, r)
		}
	}
	return out, nil
}

// resend asks the block that holds request id to queue a new link for
// email.
func (sb *signatureBlocks) resend(ctx context.Context, id, email string) (requests.ResendAnswer, error) {
	var ans requests.ResendAnswer
	err := sb.onRequest(ctx, id, "resend", map[string]string{"email": email}, http.StatusAccepted, &ans, func(be requests.Error) error {
		if be.Code == requests.CodeNoRecipient {
			return fmt.Errorf("request %s has no recipient %s", id, email)
		}
		return nil
	})
	return ans, err
}

// cancel asks the block that holds request id to cancel it.
func (sb *signatureBlocks) cancel(ctx context.Context, id, reason string) (requests.CancelAnswer, error) {
	var ans requests.CancelAnswer
	err := sb.onRequest(ctx, id, "cancel", map[string]string{"reason": reason}, http.StatusOK, &ans, func(be requests.Error) error {
		if be.Code == requests.CodeRequestClosed {
			return fmt.Errorf("request %s is %s already; only a pending request can be cancelled", id, be.Status)
		}
		return nil
	})
	return ans, err
}

// onRequest posts body to the action route of request id on each block in
// turn until one holds it (the others answer no_request), and decodes
// that block's answer into out when its status is ok. explain turns a
// refusal it knows into an error for people; nil leaves it to
// blockRefused.
func (sb *signatureBlocks) onRequest(ctx context.Context, id, action string, body any, ok int, out any, explain func(requests.Error) error) error {
	path := "/api/requests/" + url.PathEscape(id) + "/" + action
	for _, b := range sb.blocks {
		var raw json.RawMessage
		status, err := askBlock(ctx, b, http.MethodPost, path, "", body, &raw)
		if err != nil {
			return err
		}
		if status == ok {
			if err := json.Unmarshal(raw, out); err != nil {
				return fmt.Errorf("block %s: %s: %w", b.ID(), action, err)
			}
			return nil
		}
		var be requests.Error
		_ = json.Unmarshal(raw, &be)
		if be.Code == requests.CodeNoRequest {
			continue // another block's, perhaps
		}
		if err := explain(be); err != nil {
			return err
		}
		return blockRefused(b, status, raw)
	}
	return fmt.Errorf("no signature request %s (see paperflow signatures list)", id)
}

func blockRefused(b *pluginhost.Block, status int, raw []byte) error {
	var be requests.Error
	if json.Unmarshal(raw, &be) == nil && be.Error != "" {
		return fmt.Errorf("block %s: %s (%d)", b.ID(), be.Error, status)
	}
	return errors.New("block " + b.ID() + ": " + http.StatusText(status))
}
