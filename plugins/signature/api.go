package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/signature/requests"
)

// The host-only routes under api/ let the paperflow CLI ask this block
// about its requests instead of reading its state. They answer only calls
// the host makes itself (sdk.HostCall); through the public server they are
// "Page not found", like any unknown path.

// serveAPI answers the host-only routes; parts is the path after api/.
func (b *Block) serveAPI(w http.ResponseWriter, r *http.Request, parts []string) {
	if !sdk.HostCall(r) {
		b.message(w, http.StatusNotFound, "Page not found", "Check that you opened the whole link from your email.")
		return
	}
	switch {
	case len(parts) == 1 && parts[0] == "requests" && r.Method == http.MethodGet:
		b.apiList(w, r)
	case len(parts) == 3 && parts[0] == "requests" && parts[2] == "resend" && r.Method == http.MethodPost:
		b.apiResend(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "requests" && parts[2] == "cancel" && r.Method == http.MethodPost:
		b.apiCancel(w, r, parts[1])
	default:
		writeAPI(w, http.StatusNotFound, requests.Error{Code: requests.CodeNotFound, Error: "no such route: use GET api/requests, POST api/requests/{id}/resend or POST api/requests/{id}/cancel"})
	}
}

// apiList answers GET api/requests?run=RUN&item=ITEM: every request of
// this block (of one run, one item, when given), oldest key first.
func (b *Block) apiList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	reqs, err := b.requests(r.Context(), q.Get("run"), q.Get("item"))
	if err != nil {
		writeAPI(w, http.StatusServiceUnavailable, requests.Error{Code: requests.CodeUnavailable, Error: err.Error()})
		return
	}
	writeAPI(w, http.StatusOK, reqs)
}

// requests reads the block's requests (of runID and itemID when not
// empty), a page of keys at a time.
func (b *Block) requests(ctx context.Context, runID, itemID string) ([]requests.Request, error) {
	out := []requests.Request{}
	after := ""
	for {
		keys, more, err := b.host().KVKeys(ctx, "req.", after, 0)
		if err != nil {
			return nil, fmt.Errorf("list signature requests: %w", err)
		}
		for _, key := range keys {
			req, _, err := b.load(ctx, strings.TrimPrefix(key, "req."))
			if errors.Is(err, errNoRequest) {
				continue // removed meanwhile
			}
			if err != nil {
				return nil, err
			}
			if (runID == "" || req.RunID == runID) && (itemID == "" || req.ItemID == itemID) {
				out = append(out, b.summary(req))
			}
		}
		if !more || len(keys) == 0 {
			return out, nil
		}
		after = keys[len(keys)-1]
	}
}

func (b *Block) summary(r *request) requests.Request {
	s := requests.Request{
		Workflow: b.cfg.Workflow, Block: b.cfg.BlockID, Lifecycle: r.Lifecycle, DeclineReason: r.Reason,
		Recipients: make([]requests.Recipient, len(r.Recipients)),
	}
	for i, rc := range r.Recipients {
		s.Recipients[i] = rc.Recipient
	}
	return s
}

// apiResend answers POST api/requests/{id}/resend with {"email": ...}: it
// registers a resend callback, which a paperflow serve running the
// workflow delivers as a mail with a fresh link.
func (b *Block) apiResend(w http.ResponseWriter, r *http.Request, id string) {
	var body struct {
		Email string `json:"email"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil || body.Email == "" {
		writeAPI(w, http.StatusBadRequest, requests.Error{Code: requests.CodeBadRequest, Error: `send {"email": "..."}`})
		return
	}
	req, _, err := b.load(r.Context(), id)
	if errors.Is(err, errNoRequest) {
		writeAPI(w, http.StatusNotFound, requests.Error{Code: requests.CodeNoRequest, Error: fmt.Sprintf("no signature request %s", id)})
		return
	}
	if err != nil {
		writeAPI(w, http.StatusServiceUnavailable, requests.Error{Code: requests.CodeUnavailable, Error: err.Error()})
		return
	}
	for i, rc := range req.Recipients {
		if !strings.EqualFold(rc.Email, body.Email) {
			continue
		}
		now := b.now()
		if refusal := resendRefusal(req, i, now); refusal != nil {
			writeAPI(w, http.StatusConflict, refusal)
			return
		}
		key := fmt.Sprintf("resend/%s/%d/%d", req.ID, i, now.Unix())
		if err := b.host().Schedule(r.Context(), key, now, nil); err != nil {
			writeAPI(w, http.StatusServiceUnavailable, requests.Error{Code: requests.CodeUnavailable, Error: err.Error()})
			return
		}
		writeAPI(w, http.StatusAccepted, requests.ResendAnswer{Request: req.ID, Email: rc.Email, Workflow: b.cfg.Workflow, Queued: true})
		return
	}
	writeAPI(w, http.StatusNotFound, requests.Error{Code: requests.CodeNoRecipient, Error: fmt.Sprintf("request %s has no recipient %s", req.ID, body.Email)})
}

// resendRefusal says why recipient i of r would get no new link now (the
// resend callback checks the same), nil when they would.
func resendRefusal(r *request, i int, now time.Time) *requests.Error {
	rc := r.Recipients[i]
	switch {
	case !r.open(now):
		status := r.Status
		switch status {
		case statusPending:
			status = statusExpired // its time is up; the expiry is on its way
		case statusSealing:
			status = statusCompleted
		}
		return &requests.Error{Code: requests.CodeRequestClosed, Status: status, Error: fmt.Sprintf("signature request %s is %s; a new link is sent only while it is pending", r.ID, status)}
	case rc.Status != recipientPending:
		return &requests.Error{Code: requests.CodeRecipientDone, Error: fmt.Sprintf("%s has %s already; a new link is sent only to a recipient who has yet to sign", rc.Email, rc.Status)}
	case rc.Order != r.currentOrder():
		return &requests.Error{Code: requests.CodeNotTheirTurn, Error: fmt.Sprintf("%s signs in order %d, after the earlier orders; they are invited when it is their turn", rc.Email, rc.Order)}
	}
	return nil
}

// apiCancel answers POST api/requests/{id}/cancel with {"reason": ...}
// (optional, at most requests.MaxCancelReason characters): the request is
// cancelled and SIGNATURES_CANCELLED emitted. A request that has ended is
// refused with 409 and code request_closed, its status in the answer.
func (b *Block) apiCancel(w http.ResponseWriter, r *http.Request, id string) {
	var body struct {
		Reason string `json:"reason"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	err := dec.Decode(&body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeAPI(w, http.StatusBadRequest, requests.Error{Code: requests.CodeReasonTooLong, Error: fmt.Sprintf("the reason is longer than %d characters", requests.MaxCancelReason)})
		return
	}
	if err != nil && !errors.Is(err, io.EOF) {
		writeAPI(w, http.StatusBadRequest, requests.Error{Code: requests.CodeBadRequest, Error: `send {"reason": "..."} (the reason may be left out)`})
		return
	}
	if n := utf8.RuneCountInString(body.Reason); n > requests.MaxCancelReason {
		writeAPI(w, http.StatusBadRequest, requests.Error{Code: requests.CodeReasonTooLong, Error: fmt.Sprintf("the reason has %d characters; at most %d", n, requests.MaxCancelReason)})
		return
	}
	req, err := b.cancel(r.Context(), id, cleanText(body.Reason, requests.MaxCancelReason))
	switch {
	case errors.Is(err, errNoRequest):
		writeAPI(w, http.StatusNotFound, requests.Error{Code: requests.CodeNoRequest, Error: fmt.Sprintf("no signature request %s", id)})
	case errors.Is(err, errNotCancellable):
		status := req.Status
		if status == statusSealing {
			status = statusCompleted // everyone has signed; sealing is the last step
		}
		writeAPI(w, http.StatusConflict, requests.Error{Code: requests.CodeRequestClosed, Status: status, Error: fmt.Sprintf("signature request %s is %s; only a pending request can be cancelled", id, status)})
	case err != nil:
		writeAPI(w, http.StatusServiceUnavailable, requests.Error{Code: requests.CodeUnavailable, Error: err.Error()})
	default:
		writeAPI(w, http.StatusOK, requests.CancelAnswer{Request: req.ID, Workflow: b.cfg.Workflow, Status: req.Status, CancelledAt: req.CancelledAt, Reason: req.CancelReason})
	}
}

func writeAPI(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
