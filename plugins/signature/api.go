package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// The host-only routes under api/ let the paperflow CLI ask this block
// about its requests instead of reading its state. They answer only calls
// the host makes itself (sdk.HostCall); through the public server they are
// "Page not found", like any unknown path.

// requestSummary is a request as `paperflow signatures list` shows it.
type requestSummary struct {
	Workflow   string             `json:"workflow"`
	Block      string             `json:"block"`
	ID         string             `json:"id"`
	RunID      string             `json:"run_id"`
	ItemID     string             `json:"item_id"`
	Status     string             `json:"status"`
	ExpiresAt  time.Time          `json:"expires_at"`
	Recipients []recipientSummary `json:"recipients"`
}

type recipientSummary struct {
	Email     string    `json:"email"`
	Order     int       `json:"order"`
	Status    string    `json:"status"`
	InvitedAt time.Time `json:"invited_at"`
	SignedAt  time.Time `json:"signed_at"`
}

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
	default:
		writeAPI(w, http.StatusNotFound, apiError{Code: "not_found", Error: "no such route: use GET api/requests or POST api/requests/{id}/resend"})
	}
}

// apiList answers GET api/requests?run=RUN: every request of this block
// (of one run when run is set), oldest key first.
func (b *Block) apiList(w http.ResponseWriter, r *http.Request) {
	reqs, err := b.requests(r.Context(), r.URL.Query().Get("run"))
	if err != nil {
		writeAPI(w, http.StatusServiceUnavailable, apiError{Code: "unavailable", Error: err.Error()})
		return
	}
	writeAPI(w, http.StatusOK, reqs)
}

// requests reads the block's requests, a page of keys at a time.
func (b *Block) requests(ctx context.Context, runID string) ([]requestSummary, error) {
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
			if runID == "" || req.RunID == runID {
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
		Status: r.Status, ExpiresAt: r.ExpiresAt, Recipients: make([]recipientSummary, len(r.Recipients)),
	}
	for i, rc := range r.Recipients {
		s.Recipients[i] = recipientSummary{Email: rc.Email, Order: rc.Order, Status: rc.Status, InvitedAt: rc.InvitedAt, SignedAt: rc.SignedAt}
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

func writeAPI(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
