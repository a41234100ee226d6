package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/delivery"
)

// Subscriptions serves the webhook subscriptions API, authenticated with
// the host's API token (Authorization: Bearer <token>):
//
//	POST   /public/webhook/subscribe           {url, description, enabled, events, workflows?, condition?, headers?, allowDuplicate?} → 201 {subscriptionId, secretKey, …}
//	                                           (409 {error, subscriptionId} when one with the same url, events, workflows and condition exists)
//	GET    /public/webhook/subscriptions       → {subscriptions: […]} (without secrets)
//	GET    /public/webhook/subscription/{id}   → the subscription (without its secret)
//	POST   /public/webhook/subscription/{id}   {url?, description?, enabled?, events?, workflows?, condition?, headers?} → the subscription
//	DELETE /public/webhook/unsubscribe/{id}    → {subscriptionId, deleted: true}
//	GET    /public/webhook/deliveries          ?sink=workflow/sink&event=ID&limit=N → {attempts: […]}
//	GET    /public/webhook/dead-letters        ?sink=workflow/sink → {deadLetters: […]}
//	POST   /public/webhook/replay              {eventId, sinks?} or {deadLetters: true, sinks?} → 202
//
// Every error is JSON, {"error": "…"}, with a 4xx status for bad requests.
type Subscriptions struct {
	Store *delivery.SubscriptionStore
	// JS serves the deliveries, dead-letters and replay endpoints.
	JS jetstream.JetStream
	// Token is the API token; empty refuses every call.
	Token string
	Log   *slog.Logger
}

// Register adds the API's routes to mux.
func (s *Subscriptions) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /public/webhook/subscribe", s.auth(s.subscribe))
	mux.HandleFunc("GET /public/webhook/subscriptions", s.auth(s.list))
	mux.HandleFunc("GET /public/webhook/subscription/{id}", s.auth(s.get))
	mux.HandleFunc("POST /public/webhook/subscription/{id}", s.auth(s.update))
	mux.HandleFunc("DELETE /public/webhook/unsubscribe/{id}", s.auth(s.unsubscribe))
	mux.HandleFunc("GET /public/webhook/deliveries", s.auth(s.deliveries))
	mux.HandleFunc("GET /public/webhook/dead-letters", s.auth(s.deadLetters))
	mux.HandleFunc("POST /public/webhook/replay", s.auth(s.replay))
}

func (s *Subscriptions) auth(next http.HandlerFunc) http.HandlerFunc {
	return requireToken(s.Token, next)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// fail answers a store error: 400 for bad input, 404 for an unknown id,
// 409 with the existing id for a subscription that exists already.
func (s *Subscriptions) fail(w http.ResponseWriter, err error) {
	var inv *delivery.InvalidError
	var dup *delivery.DuplicateError
	switch {
	case errors.As(err, &dup):
		writeJSON(w, http.StatusConflict, map[string]string{"error": dup.Error(), "subscriptionId": dup.ID})
	case errors.As(err, &inv):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": inv.Error(), "field": inv.Field})
	case errors.Is(err, delivery.ErrSubscriptionNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, delivery.ErrEventNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	default:
		if s.Log != nil {
			s.Log.Error("webhook API", "err", err)
		}
		writeError(w, http.StatusInternalServerError, "internal error; see the host's log")
	}
}

// decode reads a JSON body strictly, so a misspelt key is an error rather
// than a silently ignored setting.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIRequest))
	if err != nil {
		bodyTooSlowOrLarge(w, err, maxAPIRequest)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "request body: "+jsonProblem(err))
		return false
	}
	return true
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be %s", te.Field, te.Type)
	}
	if errors.Is(err, io.EOF) {
		return "empty; send a JSON object"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

type subscriptionList struct {
	Subscriptions []delivery.Subscription `json:"subscriptions"`
}

func (s *Subscriptions) subscribe(w http.ResponseWriter, r *http.Request) {
	var in delivery.SubscriptionInput
	if !decode(w, r, &in) {
		return
	}
	sub, err := s.Store.Create(r.Context(), in)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, sub)
}

func (s *Subscriptions) list(w http.ResponseWriter, r *http.Request) {
	subs, err := s.Store.List(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	out := subscriptionList{Subscriptions: make([]delivery.Subscription, len(subs))}
	for i, sub := range subs {
		out.Subscriptions[i] = sub.Public()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Subscriptions) get(w http.ResponseWriter, r *http.Request) {
	sub, err := s.Store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sub.Public())
}

func (s *Subscriptions) update(w http.ResponseWriter, r *http.Request) {
	var in delivery.SubscriptionInput
	if !decode(w, r, &in) {
		return
	}
	sub, err := s.Store.Update(r.Context(), r.PathValue("id"), in)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sub.Public())
}

func (s *Subscriptions) unsubscribe(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.Store.Delete(r.Context(), id); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscriptionId": id, "deleted": true})
}

func (s *Subscriptions) deliveries(w http.ResponseWriter, r *http.Request) {
	q := delivery.AttemptQuery{Sink: r.URL.Query().Get("sink"), EventID: r.URL.Query().Get("event")}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "limit: want a number from 1 to 10000")
			return
		}
		q.Limit = n
	}
	as, err := delivery.Attempts(r.Context(), s.JS, q)
	writeList(w, "attempts", as, err)
}

// writeList answers a list read from the delivery log as {key: [...]}, an
// empty list as [] rather than null, or the error reading it gave (400:
// the query is what it cannot answer).
func writeList[T any](w http.ResponseWriter, key string, list []T, err error) {
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if list == nil {
		list = []T{}
	}
	writeJSON(w, http.StatusOK, map[string]any{key: list})
}

func sinksParam(r *http.Request) []string {
	if s := r.URL.Query().Get("sink"); s != "" {
		return []string{s}
	}
	return nil
}

func (s *Subscriptions) deadLetters(w http.ResponseWriter, r *http.Request) {
	dls, err := delivery.DeadLetters(r.Context(), s.JS, sinksParam(r)...)
	writeList(w, "deadLetters", dls, err)
}

func (s *Subscriptions) replay(w http.ResponseWriter, r *http.Request) {
	var req struct {
		EventID     string   `json:"eventId"`
		DeadLetters bool     `json:"deadLetters"`
		Sinks       []string `json:"sinks"`
	}
	if !decode(w, r, &req) {
		return
	}
	switch {
	case req.DeadLetters == (req.EventID != ""):
		writeError(w, http.StatusBadRequest, `send {"eventId": "<id>"} or {"deadLetters": true}, optionally with "sinks": ["workflow/sink"]`)
	case req.DeadLetters:
		n, err := delivery.ReplayDeadLetters(r.Context(), s.JS, req.Sinks...)
		if err != nil && n == 0 {
			writeError(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		out := map[string]any{"queued": n}
		if err != nil {
			out["error"] = err.Error()
		}
		writeJSON(w, http.StatusAccepted, out)
	default:
		refs, err := delivery.Replay(r.Context(), s.JS, req.EventID, req.Sinks...)
		if errors.Is(err, delivery.ErrEventNotFound) {
			s.fail(w, err)
			return
		}
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"queued": refs})
	}
}
