package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	evstream "github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/plugins/webhook/verify"
	"github.com/paperflow/paperflow/plugins/websend"
)

// Subscription is a webhook endpoint registered through the API or the
// CLI. It receives the events of the chosen types from every workflow,
// signed with its own secret, through the same delivery as a webhook block.
type Subscription struct {
	ID          string   `json:"subscriptionId"`
	URL         string   `json:"url"`
	Description string   `json:"description"`
	Enabled     bool     `json:"enabled"`
	Events      []string `json:"events"`
	// Workflows limits the subscription to these workflows' events; empty
	// takes every workflow's.
	Workflows []string `json:"workflows,omitempty"`
	// Condition is a jq test over each event's envelope, as a webhook
	// block's condition (all/any, or Port's type/expressions/combinator).
	Condition *websend.Condition `json:"condition,omitempty"`
	// Headers are sent with every delivery. Their values are shown only
	// when created, as the secret: they often hold credentials.
	Headers map[string]string `json:"headers,omitempty"`
	// Secret signs the deliveries; it is shown once, when created.
	Secret    string    `json:"secretKey,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// DisabledReason says why paperflow disabled it (410 Gone).
	DisabledReason string `json:"disabledReason,omitempty"`
}

// Public is the subscription without its secret and with its headers'
// values hidden.
func (s Subscription) Public() Subscription {
	s.Secret = ""
	if len(s.Headers) > 0 {
		h := make(map[string]string, len(s.Headers))
		for name := range s.Headers {
			h[name] = HiddenHeader
		}
		s.Headers = h
	}
	return s
}

// HiddenHeader stands for a header's value in a listed subscription.
const HiddenHeader = "(hidden)"

// filterKey is what makes two subscriptions the same: URL, event types,
// workflows and condition (headers and description do not).
func (s Subscription) filterKey() string {
	events := slices.Sorted(slices.Values(s.Events))
	workflows := slices.Sorted(slices.Values(s.Workflows))
	cond, _ := json.Marshal(s.Condition)
	return s.URL + "\x00" + strings.Join(events, ",") + "\x00" + strings.Join(workflows, ",") + "\x00" + string(cond)
}

// Sink is the subscription's name as a delivery target.
func (s Subscription) Sink() string { return "sub-" + s.ID }

// Ref is the subscription's "workflow/sink" for queries and replays.
func (s Subscription) Ref() string { return AllWorkflows + "/" + s.Sink() }

func (s Subscription) target() Target {
	return Target{Name: s.Sink(), Events: s.Events, Workflows: s.Workflows, FromNow: true}
}

// sendConfig is how the subscription is sent, by the sending code it shares
// with the webhook block (plugins/websend).
func (s Subscription) sendConfig(timeout string) websend.Config {
	return websend.Config{URL: s.URL, Events: s.Events, Secret: s.Secret, Timeout: timeout, Headers: s.Headers, Condition: s.Condition}
}

// SubscriptionInput creates or changes a subscription; nil fields keep
// their value (or take the default on creation: enabled, the four main
// event types).
type SubscriptionInput struct {
	URL         *string  `json:"url"`
	Description *string  `json:"description"`
	Enabled     *bool    `json:"enabled"`
	Events      []string `json:"events"`
	// Workflows: [] takes every workflow again.
	Workflows []string `json:"workflows"`
	// Condition: {} removes it.
	Condition *websend.Condition `json:"condition"`
	// Headers: {} removes them.
	Headers map[string]string `json:"headers"`
	// AllowDuplicate creates a subscription even when one with the same
	// URL, events, workflows and condition exists (Create only).
	AllowDuplicate bool `json:"allowDuplicate"`
}

// DuplicateError is a Create refused because a subscription with the same
// URL, events, workflows and condition exists; the API answers it with 409
// and the existing id.
type DuplicateError struct {
	ID string
}

func (e *DuplicateError) Error() string {
	return "a subscription with the same url, events, workflows and condition exists: " + e.ID + `; send "allowDuplicate": true to create another`
}

// ErrSubscriptionNotFound: no subscription has that id.
var ErrSubscriptionNotFound = errors.New("subscription not found")

// InvalidError is input the store refuses; the API answers it with 400.
type InvalidError struct {
	Field, Msg string
}

func (e *InvalidError) Error() string { return e.Field + ": " + e.Msg }

// SubscriptionStore keeps subscriptions in the KV bucket paperflow_webhooks
// and their consumers in step with them: an enabled subscription has a
// durable consumer that starts with the events published after it was
// created (or enabled again); a disabled one has none.
type SubscriptionStore struct {
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	allow []netip.Prefix
	o     Options // consumer settings
}

// OpenSubscriptions opens (creating if needed) the subscriptions bucket.
// allow is the host's allow-list of private addresses: other private and
// loopback URLs are refused when they are literal addresses.
func OpenSubscriptions(ctx context.Context, js jetstream.JetStream, replicas int, allow []netip.Prefix) (*SubscriptionStore, error) {
	if err := EnsureStreams(ctx, js, replicas); err != nil {
		return nil, err
	}
	kv, err := bus.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket: SubscriptionsBucket, Description: "paperflow webhook subscriptions",
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1), History: 1,
	}, nil)
	if err != nil {
		return nil, err
	}
	o := Options{JS: js}
	o.defaults()
	return &SubscriptionStore{js: js, kv: kv, allow: allow, o: o}, nil
}

func newSubscriptionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validID(id string) bool {
	if len(id) != 24 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// Create registers a subscription with a new id and secret.
func (s *SubscriptionStore) Create(ctx context.Context, in SubscriptionInput) (Subscription, error) {
	if in.URL == nil {
		return Subscription{}, &InvalidError{"url", "required"}
	}
	now := time.Now().UTC()
	sub := Subscription{ID: newSubscriptionID(), Secret: verify.GenerateSecret(), Enabled: true, Events: websend.DefaultEvents, CreatedAt: now, UpdatedAt: now}
	if err := s.apply(&sub, in); err != nil {
		return Subscription{}, err
	}
	if !in.AllowDuplicate {
		all, err := s.List(ctx)
		if err != nil {
			return Subscription{}, err
		}
		for _, other := range all {
			if other.filterKey() == sub.filterKey() {
				return Subscription{}, &DuplicateError{ID: other.ID}
			}
		}
	}
	if sub.Enabled {
		if _, _, _, err := ensureConsumers(ctx, s.o, sub.target()); err != nil {
			return Subscription{}, err
		}
	}
	raw, _ := json.Marshal(sub)
	if _, err := s.kv.Create(ctx, sub.ID, raw); err != nil {
		s.deleteConsumers(ctx, sub)
		return Subscription{}, fmt.Errorf("store subscription: %w", err)
	}
	return sub, nil
}

// apply validates in and writes it into sub.
func (s *SubscriptionStore) apply(sub *Subscription, in SubscriptionInput) error {
	was := *sub
	if in.URL != nil {
		if err := s.checkURL(*in.URL); err != nil {
			return err
		}
		sub.URL = *in.URL
	}
	if in.Description != nil {
		if len(*in.Description) > 1000 {
			return &InvalidError{"description", "longer than 1000 characters"}
		}
		sub.Description = *in.Description
	}
	if in.Enabled != nil {
		sub.Enabled = *in.Enabled
		if sub.Enabled {
			sub.DisabledReason = ""
		}
	}
	if in.Events != nil {
		if len(in.Events) == 0 {
			return &InvalidError{"events", "empty: name at least one event type, or leave events out for the four main ones"}
		}
		var types []string
		for _, e := range in.Events {
			t, err := evstream.ParseType(e)
			if err != nil {
				return &InvalidError{"events", err.Error()}
			}
			if !slices.Contains(types, string(t)) {
				types = append(types, string(t))
			}
		}
		sub.Events = types
	}
	if in.Workflows != nil {
		var names []string
		for _, w := range in.Workflows {
			if !workflowName.MatchString(w) {
				return &InvalidError{"workflows", fmt.Sprintf("%q is not a workflow name (lowercase letters, digits, - and _)", w)}
			}
			if !slices.Contains(names, w) {
				names = append(names, w)
			}
		}
		slices.Sort(names)
		sub.Workflows = names
	}
	if in.Condition != nil {
		sub.Condition = in.Condition
		if reflect.ValueOf(*in.Condition).IsZero() {
			sub.Condition = nil
		} else if err := websend.CheckCondition(*in.Condition); err != nil {
			return &InvalidError{"condition", strings.TrimPrefix(err.Error(), "condition: ")}
		}
	}
	if in.Headers != nil {
		if err := checkHeaders(in.Headers); err != nil {
			return err
		}
		sub.Headers = in.Headers
		if len(in.Headers) == 0 {
			sub.Headers = nil
		}
	}
	if err := keptHeaders(was, *sub, in); err != nil {
		return err
	}
	// The rest (header names, values with tags) is the sender's to judge.
	if _, err := websend.New(websend.Config{URL: "https://example.com/", Headers: sub.Headers}, websend.Options{}); err != nil {
		return &InvalidError{"headers", strings.TrimPrefix(err.Error(), "headers: ")}
	}
	return nil
}

// checkHeaders refuses header names that are not HTTP tokens and values
// with control characters (a line break would fail every delivery). Its
// errors name the header, never its value.
func checkHeaders(h map[string]string) error {
	names := slices.Sorted(maps.Keys(h))
	seen := map[string]string{}
	for _, name := range names {
		v := h[name]
		if !isToken(name) {
			return &InvalidError{"headers", fmt.Sprintf("%q is not a valid header name: use letters, digits and !#$%%&'*+-.^_`|~ only", name)}
		}
		canon := http.CanonicalHeaderKey(name)
		if other, ok := seen[canon]; ok {
			return &InvalidError{"headers", fmt.Sprintf("%s and %s are the same header (names ignore case); give it once", other, name)}
		}
		seen[canon] = name
		if v == HiddenHeader {
			return &InvalidError{"headers", fmt.Sprintf("%s: %q is how a listed subscription hides a value; send the value itself", name, HiddenHeader)}
		}
		for i := 0; i < len(v); i++ {
			if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
				what := "a control character"
				if c == '\r' || c == '\n' {
					what = "a line break"
				}
				return &InvalidError{"headers", fmt.Sprintf("%s: its value contains %s (byte %d); a header value is one line of text", name, what, i+1)}
			}
		}
	}
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110 5.6.2), the form of
// a header name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// hostChanged is why keptHeaders refuses a change.
const hostChanged = "the URL's host changes: give the headers' values again, or remove them"

// keptHeaders refuses a change that sends stored header values to another
// origin (scheme, host and port): they often hold credentials, and whoever
// edits a subscription does not see them. A value the change does not give
// anew (headers left out) or gives equal to the stored one (as a form that
// shows them hidden sends them back) counts as kept.
func keptHeaders(was, now Subscription, in SubscriptionInput) error {
	if was.URL == "" || len(was.Headers) == 0 || sameOrigin(was.URL, now.URL) {
		return nil
	}
	var kept []string
	if in.Headers == nil {
		kept = slices.Sorted(maps.Keys(was.Headers))
	} else {
		stored := map[string]string{}
		for name, v := range was.Headers {
			stored[http.CanonicalHeaderKey(name)] = v
		}
		for _, name := range slices.Sorted(maps.Keys(in.Headers)) {
			if old, ok := stored[http.CanonicalHeaderKey(name)]; ok && old == in.Headers[name] {
				kept = append(kept, name)
			}
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return &InvalidError{"headers", fmt.Sprintf("%s (%s kept its stored value; to send the same value to the new host, remove the header in one change and add it in the next)", hostChanged, strings.Join(kept, ", "))}
}

// sameOrigin reports whether two URLs have the same scheme, host and port
// (the default port of the scheme when none is written).
func sameOrigin(a, b string) bool {
	origin := func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil {
			return "\x00" + raw
		}
		scheme := strings.ToLower(u.Scheme)
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[scheme]
		}
		host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
		if a, err := netip.ParseAddr(host); err == nil {
			host = a.Unmap().String()
		}
		return scheme + "://" + net.JoinHostPort(host, port)
	}
	return origin(a) == origin(b)
}

// workflowName is the form of a workflow name (a token of NATS subjects).
var workflowName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

func (s *SubscriptionStore) checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || raw == "":
		return &InvalidError{"url", "not a valid URL"}
	case len(raw) > 2048:
		return &InvalidError{"url", "longer than 2048 characters"}
	case u.Scheme != "http" && u.Scheme != "https":
		return &InvalidError{"url", "want an absolute http:// or https:// URL"}
	case u.Hostname() == "":
		return &InvalidError{"url", "the URL has no host"}
	}
	if err := websend.CheckLiteral(u.Hostname(), false, s.allow); err != nil {
		return &InvalidError{"url", err.Error()}
	}
	return nil
}

// Get returns one subscription, with its secret.
func (s *SubscriptionStore) Get(ctx context.Context, id string) (Subscription, error) {
	sub, _, err := s.get(ctx, id)
	return sub, err
}

func (s *SubscriptionStore) get(ctx context.Context, id string) (Subscription, uint64, error) {
	if !validID(id) {
		return Subscription{}, 0, fmt.Errorf("%w: %q", ErrSubscriptionNotFound, id)
	}
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Subscription{}, 0, fmt.Errorf("%w: %s", ErrSubscriptionNotFound, id)
	}
	if err != nil {
		return Subscription{}, 0, err
	}
	var sub Subscription
	if err := json.Unmarshal(e.Value(), &sub); err != nil {
		return Subscription{}, 0, fmt.Errorf("subscription %s: corrupt record: %w", id, err)
	}
	return sub, e.Revision(), nil
}

// List returns every subscription, with secrets, oldest first.
func (s *SubscriptionStore) List(ctx context.Context) ([]Subscription, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []Subscription
	for key := range lister.Keys() {
		sub, err := s.Get(ctx, key)
		if errors.Is(err, ErrSubscriptionNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sub)
	}
	slices.SortFunc(out, func(a, b Subscription) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// Update changes a subscription; enabling and disabling create and delete
// its consumer (a subscription enabled again receives what is published
// from then on).
func (s *SubscriptionStore) Update(ctx context.Context, id string, in SubscriptionInput) (Subscription, error) {
	return s.update(ctx, id, func(sub *Subscription) error { return s.apply(sub, in) })
}

// Disable turns a subscription off, saying why.
func (s *SubscriptionStore) Disable(ctx context.Context, id, reason string) error {
	_, err := s.update(ctx, id, func(sub *Subscription) error {
		sub.Enabled, sub.DisabledReason = false, reason
		return nil
	})
	return err
}

func (s *SubscriptionStore) update(ctx context.Context, id string, change func(*Subscription) error) (Subscription, error) {
	for range 5 {
		sub, rev, err := s.get(ctx, id)
		if err != nil {
			return Subscription{}, err
		}
		was := sub
		if err := change(&sub); err != nil {
			return Subscription{}, err
		}
		sub.UpdatedAt = time.Now().UTC()
		if sub.Enabled && (!was.Enabled || !slices.Equal(was.Events, sub.Events) || !slices.Equal(was.Workflows, sub.Workflows)) {
			if _, _, _, err := ensureConsumers(ctx, s.o, sub.target()); err != nil {
				return Subscription{}, err
			}
		}
		raw, _ := json.Marshal(sub)
		if _, err := s.kv.Update(ctx, id, raw, rev); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue // changed meanwhile: read again
			}
			return Subscription{}, err
		}
		if was.Enabled && !sub.Enabled {
			s.deleteConsumers(ctx, sub)
		}
		return sub, nil
	}
	return Subscription{}, fmt.Errorf("subscription %s keeps changing; try again", id)
}

// Delete removes a subscription and its consumers. Its dead letters and
// attempt log stay until they expire.
func (s *SubscriptionStore) Delete(ctx context.Context, id string) error {
	sub, _, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, id); err != nil {
		return err
	}
	s.deleteConsumers(ctx, sub)
	return nil
}

func (s *SubscriptionStore) deleteConsumers(ctx context.Context, sub Subscription) {
	name := consumerName("", sub.Sink())
	for _, stream := range []string{evstream.StreamName, ReplaysStream} {
		_ = s.js.DeleteConsumer(ctx, stream, name)
	}
}

// SubscriptionSending is how the host sends to subscriptions.
type SubscriptionSending struct {
	// Allow lists private ranges subscriptions may reach (the host's
	// PAPERFLOW_WEBHOOK_ALLOW).
	Allow []netip.Prefix
	// Schedule is the retry policy (DefaultSchedule when nil).
	Schedule Schedule
	// Timeout bounds one request ("" for websend.DefaultTimeout).
	Timeout string
}

// ServeSubscriptions keeps d's targets in step with the store until ctx
// ends: every enabled subscription is delivered to, by an in-host
// websend.Sender (the sending code it shares with the webhook block).
func ServeSubscriptions(ctx context.Context, d *Dispatcher, store *SubscriptionStore, o SubscriptionSending) error {
	w, err := store.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch subscriptions: %w", err)
	}
	defer func() { _ = w.Stop() }()
	running := map[string]*runningSub{}
	defer func() {
		for id, r := range running {
			d.Remove("", "sub-"+id)
			r.sender.Close()
		}
	}()
	for e := range bus.Entries(ctx, w) {
		if e == nil {
			continue // the initial values are in
		}
		serveSubscription(ctx, d, store, o, running, e)
	}
	return nil
}

type runningSub struct {
	fingerprint string
	sender      *websend.Sender
}

func serveSubscription(ctx context.Context, d *Dispatcher, store *SubscriptionStore, o SubscriptionSending, running map[string]*runningSub, e jetstream.KeyValueEntry) {
	id := e.Key()
	stop := func() {
		if r := running[id]; r != nil {
			d.Remove("", "sub-"+id)
			r.sender.Close()
			delete(running, id)
		}
	}
	if e.Operation() != jetstream.KeyValuePut {
		stop()
		return
	}
	var sub Subscription
	if err := json.Unmarshal(e.Value(), &sub); err != nil || !sub.Enabled {
		stop()
		return
	}
	cfg := sub.sendConfig(o.Timeout)
	raw, _ := json.Marshal(cfg)
	fp := string(raw) + "\x00" + strings.Join(sub.Workflows, ",")
	if r := running[id]; r != nil && r.fingerprint == fp {
		return
	}
	stop()
	log := d.o.Log.With("subscription", id)
	sender, err := websend.New(cfg, websend.Options{Allow: o.Allow, Gone: subscriptionGone{store: store, id: id, log: log}})
	if err != nil {
		log.Error("subscription cannot be sent to", "err", err)
		return
	}
	t := sub.target()
	t.Sink, t.Schedule = SDKSink(sender), o.Schedule
	if err := d.Add(ctx, t); err != nil {
		log.Error("subscription not started", "err", err)
		sender.Close()
		return
	}
	running[id] = &runningSub{fingerprint: fp, sender: sender}
}

// subscriptionGone disables the subscription whose endpoint answered 410.
type subscriptionGone struct {
	store *SubscriptionStore
	id    string
	log   *slog.Logger
}

func (g subscriptionGone) Gone(context.Context, string) bool { return false }

func (g subscriptionGone) MarkGone(ctx context.Context, _ string) error {
	g.log.Warn("subscription disabled: its endpoint answered 410 Gone")
	return g.store.Disable(context.WithoutCancel(ctx), g.id, "the endpoint answered 410 Gone at "+time.Now().UTC().Format(time.RFC3339))
}
