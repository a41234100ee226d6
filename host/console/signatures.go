package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/paperflow/paperflow/host/pluginhost"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/signature/requests"
)

// signatureUses is the block whose requests the item page shows.
const signatureUses = "signature"

// BlockRoutes reaches the host-only routes (api/…) of the blocks a host
// serves, in process: a call the host makes itself (sdk.HostCall), never
// one over the network.
type BlockRoutes interface {
	// Call makes an internal HTTP call to block id of workflow and
	// returns the answer's status and body; ErrNotServed when the host
	// does not run that block.
	Call(ctx context.Context, workflow, id, method, path, query string, body []byte) (int, []byte, error)
}

// ErrNotServed: the host runs no instance of that block.
var ErrNotServed = errors.New("this host does not serve that block")

// ServedBlocks is BlockRoutes over the running blocks of a host's served
// workflows, found by workflow and block id.
type ServedBlocks func(workflow, id string) *pluginhost.Block

// Call sends the request to the block as an internal call.
func (f ServedBlocks) Call(ctx context.Context, workflow, id, method, path, query string, body []byte) (int, []byte, error) {
	b := f(workflow, id)
	if b == nil {
		return 0, nil, fmt.Errorf("%w: %s of %s", ErrNotServed, id, workflow)
	}
	req := &blockv1.HTTPRequest{Method: method, Path: path, RawQuery: query, Internal: true, Body: body}
	if body != nil {
		req.Headers = []*blockv1.Header{{Name: "Content-Type", Values: []string{"application/json"}}}
	}
	resp, err := b.ServeHTTP(ctx, req)
	if err != nil {
		return 0, nil, fmt.Errorf("block %s of %s: %s %s: %w", id, workflow, method, path, err)
	}
	return int(resp.Status), resp.Body, nil
}

// signaturePanel is the item page's signature requests.
type signaturePanel struct {
	Requests []requests.Request
	Notes    []string // blocks that could not be asked, and why
}

// signatureBlocks lists the ids of a workflow's signature blocks.
func signatureBlocks(wf Workflow) []string {
	var ids []string
	for _, b := range wf.Blocks {
		if b.Uses == signatureUses {
			ids = append(ids, b.ID)
		}
	}
	return ids
}

// itemSignatures asks each signature block of wf for the item's requests.
// A block that does not answer is noted, not fatal: the rest of the page
// still shows.
func (c *Console) itemSignatures(ctx context.Context, wf Workflow, runID, itemID string) *signaturePanel {
	ids := signatureBlocks(wf)
	if len(ids) == 0 || c.o.Blocks == nil {
		return nil
	}
	p := &signaturePanel{}
	q := itemQuery(runID, itemID)
	for _, id := range ids {
		reqs, err := c.blockRequests(ctx, wf, id, q)
		if err != nil {
			c.log.Warn("console: ask a signature block", "workflow", wf.Name, "block", id, "err", err)
			p.Notes = append(p.Notes, fmt.Sprintf("Block %s did not answer: %v", id, err))
			continue
		}
		for _, r := range reqs {
			if r.ItemID == itemID && r.RunID == runID {
				if r.Block == "" {
					r.Block = id
				}
				p.Requests = append(p.Requests, r)
			}
		}
	}
	return p
}

// itemQuery asks GET api/requests for one item's requests.
func itemQuery(runID, itemID string) string {
	return url.Values{"run": {runID}, "item": {itemID}}.Encode()
}

// blockRequests asks signature block id of wf for its requests (GET
// api/requests with query q).
func (c *Console) blockRequests(ctx context.Context, wf Workflow, id, q string) ([]requests.Request, error) {
	status, body, err := c.o.Blocks.Call(ctx, wf.Name, id, http.MethodGet, "/api/requests", q, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, blockRefusal(status, body)
	}
	var reqs []requests.Request
	if err := json.Unmarshal(body, &reqs); err != nil {
		return nil, fmt.Errorf("its answer is not a list of requests: %w", err)
	}
	return reqs, nil
}

func blockRefusal(status int, body []byte) error {
	var be requests.Error
	if json.Unmarshal(body, &be) == nil && be.Error != "" {
		return errors.New(be.Error)
	}
	return fmt.Errorf("it answered %d %s", status, http.StatusText(status))
}

// signatureTarget checks that the path names a signature block of the
// run's workflow, as this host serves it, and a request of that block for
// the item the path names (so a page's form acts on that item's request
// and no other), and returns the page to go back to.
func (c *Console) signatureTarget(w http.ResponseWriter, r *http.Request, ss *session) (wf Workflow, block, back string, ok bool) {
	runID, itemID := r.PathValue("run"), r.PathValue("item")
	run, err := c.o.Runs.Run(r.Context(), runID)
	if err != nil {
		c.notFoundOr(w, r, ss, "read the run", err)
		return wf, "", "", false
	}
	block = r.PathValue("block")
	wf, served := c.workflow(run.Workflow)
	if !served || c.o.Blocks == nil || !slices.Contains(signatureBlocks(wf), block) {
		c.message(w, r, ss, http.StatusNotFound, "No such signature block", "This host serves no signature block "+block+" of workflow "+run.Workflow+".")
		return wf, "", "", false
	}
	reqs, err := c.blockRequests(r.Context(), wf, block, itemQuery(runID, itemID))
	if err != nil {
		c.fail(w, r, ss, "ask the signature block for the item's requests", err)
		return wf, "", "", false
	}
	id := r.PathValue("request")
	if !slices.ContainsFunc(reqs, func(q requests.Request) bool { return q.ID == id && q.RunID == runID && q.ItemID == itemID }) {
		c.message(w, r, ss, http.StatusNotFound, "No such signature request", "Item "+itemID+" of run "+runID+" has no signature request "+id+" in block "+block+".")
		return wf, "", "", false
	}
	return wf, block, "/runs/" + url.PathEscape(runID) + "/items/" + url.PathEscape(itemID) + "#signatures", true
}

// resendSignature has the signature block send a recipient a new link.
func (c *Console) resendSignature(w http.ResponseWriter, r *http.Request, ss *session) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	c.actOnRequest(w, r, ss, requestAction{
		path: "resend", body: map[string]string{"email": email}, ok: http.StatusAccepted,
		refused: "Not resent", what: "resend the signing link", done: "signing link resent",
		flash: "A new signing link for " + email + " is queued.",
	})
}

// cancelSignature has the signature block cancel a request, with the
// reason given.
func (c *Console) cancelSignature(w http.ResponseWriter, r *http.Request, ss *session) {
	c.actOnRequest(w, r, ss, requestAction{
		path: "cancel", body: map[string]string{"reason": strings.TrimSpace(r.PostFormValue("reason"))}, ok: http.StatusOK,
		refused: "Not cancelled", what: "cancel the signature request", done: "signature request cancelled",
		flash: "Signature request cancelled.",
	})
}

// requestAction is a console action on one signature request that the
// signature block carries out (POST api/requests/{id}/<path>), with what
// the console says of it.
type requestAction struct {
	path    string
	body    map[string]string
	ok      int    // the block's status when it did it
	refused string // the heading when the block answers otherwise
	what    string // for "Could not …" when the call fails
	done    string // logged when done
	flash   string // shown on the item page when done
}

// actOnRequest has the block of the signature request the path names
// carry out a, and goes back to the item's page.
func (c *Console) actOnRequest(w http.ResponseWriter, r *http.Request, ss *session, a requestAction) {
	wf, block, back, ok := c.signatureTarget(w, r, ss)
	if !ok {
		return
	}
	body, _ := json.Marshal(a.body)
	id := r.PathValue("request")
	status, answer, err := c.o.Blocks.Call(r.Context(), wf.Name, block, http.MethodPost, "/api/requests/"+url.PathEscape(id)+"/"+a.path, "", body)
	if err == nil && status != a.ok {
		c.message(w, r, ss, status, a.refused, blockRefusal(status, answer).Error())
		return
	}
	if err != nil {
		c.fail(w, r, ss, a.what, err)
		return
	}
	c.log.Info("console: "+a.done, "workflow", wf.Name, "block", block, "request", id)
	http.Redirect(w, r, withFlash(back, a.flash), http.StatusSeeOther)
}
