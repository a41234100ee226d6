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
)

// The host-only routes under api/ let the paperflow CLI ask this block
// about its requests instead of reading its state. They answer only calls
// the host makes itself (sdk.HostCall); through the public server they are
// "Page not found", like any unknown path.

// requestSummary is a request as `paperflow signatures list` and the
// console show it. Times that have not happened are left out.
type requestSummary struct {
	Workflow  string    `json:"workflow"`
	Block     string    `json:"block"`
	ID        string    `json:"id"`
	RunID     string    `json:"run_id"`
	ItemID    string    `json:"item_id"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at"`
	// ExpiredAt, CancelledAt and CancelReason say how a request ended that
	// ran out of time or was cancelled; DeclineReason is what a declining
	// recipient wrote.
	ExpiredAt     time.Time          `json:"expired_at,omitzero"`
	CancelledAt   time.Time          `json:"cancelled_at,omitzero"`
	CancelReason  string             `json:"cancel_reason,omitempty"`
	DeclineReason string             `json:"decline_reason,omitempty"`
	Recipients    []recipientSummary `json:"recipients"`
}

// recipientSummary is one recipient of a requestSummary.
type recipientSummary struct {
	Email      string    `json:"email"`
	Name       string    `json:"name,omitempty"`
	Order      int       `json:"order"`
	Status     string    `json:"status"`
	InvitedAt  time.Time `json:"invited_at,omitzero"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	ViewedAt   time.Time `json:"viewed_at,omitzero"`
	SignedAt   time.Time `json:"signed_at,omitzero"`
	DeclinedAt time.Time `json:"declined_at,omitzero"`
}

// cancelAnswer is the answer to POST api/requests/{id}/cancel.
type cancelAnswer struct {
	Request     string    `json:"request"`
	Workflow    string    `json:"workflow"`
	Status      string    `json:"status"`
	CancelledAt time.Time `json:"cancelled_at"`
	Reason      string    `json:"reason"`
}

// maxCancelReason bounds the reason of a cancel, in characters.
const maxCancelReason = 500

// resendAnswer is the answer to POST api/requests/{id}/resend.
type resendAnswer struct {
	Request  string `json:"request"`
	Email    string `json:"email"`
	Workflow string `json:"workflow"`
	Queued   bool   `json:"queued"`
}

// apiError is the body of a refused api call; Code is stable for callers.
type apiError struct {
	Code  string `json:"code"`
	Error string `json:"error"`
	// Status is the request's status, when that is why the call was refused.
	Status string `json:"status,omitempty"`
}

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
		writeAPI(w, http.StatusNotFound, apiError{Code: "not_found", Error: "no such route: use GET api/requests, POST api/requests/{id}/resend or POST api/requests/{id}/cancel"})
	}
}

// apiList answers GET api/requests?run=RUN&item=ITEM: every request of
// this block (of one run, one item, when given), oldest key first.
func (b *Block) apiList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	reqs, err := b.requests(r.Context(), q.Get("run"), q.Get("item"))
	if err != nil {
		writeAPI(w, http.StatusServiceUnavailable, apiError{Code: "unavailable", Error: err.Error()})
		return
	}
	writeAPI(w, http.StatusOK, reqs)
}

// requests reads the block's requests (of runID and itemID when not
// empty), a page of keys at a time.
func (b *Block) requests(ctx context.Context, runID, itemID string) ([]requestSummary, error) {
	out := []requestSummary{}
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

func (b *Block) summary(r *request) requestSummary {
	s := requestSummary{
		Workflow: b.cfg.Workflow, Block: b.cfg.BlockID, ID: r.ID, RunID: r.RunID, ItemID: r.ItemID,
		Status: r.Status, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, ExpiredAt: r.ExpiredAt,
		CancelledAt: r.CancelledAt, CancelReason: r.CancelReason, DeclineReason: r.Reason,
		Recipients: make([]recipientSummary, len(r.Recipients)),
	}
	for i, rc := range r.Recipients {
		s.Recipients[i] = recipientSummary{
			Email: rc.Email, Name: rc.Name, Order: rc.Order, Status: rc.Status, InvitedAt: rc.InvitedAt,
			VerifiedAt: rc.VerifiedAt, ViewedAt: rc.ViewedAt, SignedAt: rc.SignedAt, DeclinedAt: rc.DeclinedAt,
		}
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
		writeAPI(w, http.StatusBadRequest, apiError{Code: "bad_request", Error: `send {"email": "..."}`})
		return
	}
	req, _, err := b.load(r.Context(), id)
	if errors.Is(err, errNoRequest) {
		writeAPI(w, http.StatusNotFound, apiError{Code: "no_request", Error: fmt.Sprintf("no signature request %s", id)})
		return
	}
	if err != nil {
		writeAPI(w, http.StatusServiceUnavailable, apiError{Code: "unavailable", Error: err.Error()})
		return
	}
	for i, rc := range req.Recipients {
		if !strings.EqualFold(rc.Email, body.Email) {
			continue
		}
		now := b.now()
		key := fmt.Sprintf("resend/%s/%d/%d", req.ID, i, now.Unix())
		if err := b.host().Schedule(r.Context(), key, now, nil); err != nil {
			writeAPI(w, http.StatusServiceUnavailable, apiError{Code: "unavailable", Error: err.Error()})
			return
		}
		writeAPI(w, http.StatusAccepted, resendAnswer{Request: req.ID, Email: rc.Email, Workflow: b.cfg.Workflow, Queued: true})
		return
	}
	writeAPI(w, http.StatusNotFound, apiError{Code: "no_recipient", Error: fmt.Sprintf("request %s has no recipient %s", req.ID, body.Email)})
}

// apiCancel answers POST api/requests/{id}/cancel with {"reason": ...}
// (optional, at most maxCancelReason characters): the request is
// cancelled and SIGNATURES_CANCELLED emitted. A request that has ended is
// refused with 409 and code request_closed, its status in the answer.
func (b *Block) apiCancel(w http.ResponseWriter, r *http.Request, id string) {
	var body struct {
		Reason string `json:"reason"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		writeAPI(w, http.StatusBadRequest, apiError{Code: "bad_request", Error: `send {"reason": "..."} (the reason may be left out)`})
		return
	}
	if n := utf8.RuneCountInString(body.Reason); n > maxCancelReason {
		writeAPI(w, http.StatusBadRequest, apiError{Code: "reason_too_long", Error: fmt.Sprintf("the reason has %d characters; at most %d", n, maxCancelReason)})
		return
	}
	req, err := b.cancel(r.Context(), id, cleanText(body.Reason, maxCancelReason))
	switch {
	case errors.Is(err, errNoRequest):
		writeAPI(w, http.StatusNotFound, apiError{Code: "no_request", Error: fmt.Sprintf("no signature request %s", id)})
	case errors.Is(err, errNotCancellable):
		status := req.Status
		if status == statusSealing {
			status = statusCompleted // everyone has signed; sealing is the last step
		}
		writeAPI(w, http.StatusConflict, apiError{Code: "request_closed", Status: status, Error: fmt.Sprintf("signature request %s is %s; only a pending request can be cancelled", id, status)})
	case err != nil:
		writeAPI(w, http.StatusServiceUnavailable, apiError{Code: "unavailable", Error: err.Error()})
	default:
		writeAPI(w, http.StatusOK, cancelAnswer{Request: req.ID, Workflow: b.cfg.Workflow, Status: req.Status, CancelledAt: req.CancelledAt, Reason: req.CancelReason})
	}
}

func writeAPI(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
