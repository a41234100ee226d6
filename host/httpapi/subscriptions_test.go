package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/httpapi"
	"github.com/paperflow/paperflow/plugins/webhook/verify"
)

const token = "t0ken-for-tests"

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

type api struct {
	*httptest.Server
	bus   *bus.Bus
	store *delivery.SubscriptionStore
}

func newAPI(t *testing.T, tok string) *api {
	t.Helper()
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	store, err := delivery.OpenSubscriptions(ctx, b.JS, 1, loopback)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	(&httpapi.Subscriptions{Store: store, JS: b.JS, Token: tok, Log: slog.Default()}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &api{Server: srv, bus: b, store: store}
}

// call sends a request and decodes the JSON answer.
func (a *api) call(t *testing.T, method, path, auth, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, a.URL+path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: content type %q, body %s", method, path, ct, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, path, raw)
	}
	return resp.StatusCode, out
}

const bearer = "Bearer " + token

func TestAuthentication(t *testing.T) {
	t.Parallel()
	a := newAPI(t, token)
	for _, auth := range []string{"", "Bearer ", "Bearer wrong", token, "Basic " + token} {
		code, out := a.call(t, "GET", "/public/webhook/subscriptions", auth, "")
		if code != http.StatusUnauthorized || out["error"] == "" {
			t.Errorf("auth %q: %d %v", auth, code, out)
		}
	}
	if code, _ := a.call(t, "GET", "/public/webhook/subscriptions", bearer, ""); code != http.StatusOK {
		t.Errorf("right token: %d", code)
	}
	noToken := newAPI(t, "")
	if code, out := noToken.call(t, "GET", "/public/webhook/subscriptions", "Bearer ", ""); code != http.StatusUnauthorized || !strings.Contains(out["error"].(string), "no API token") {
		t.Errorf("host without a token: %d %v", code, out)
	}
}

func TestSubscriptionLifecycle(t *testing.T) {
	t.Parallel()
	a := newAPI(t, token)
	code, sub := a.call(t, "POST", "/public/webhook/subscribe", bearer,
		`{"url":"https://example.com/hook","description":"crm","enabled":true,"events":["DOCUMENTS_CREATED","SIGNATURES_COMPLETED"]}`)
	if code != http.StatusCreated {
		t.Fatalf("subscribe: %d %v", code, sub)
	}
	id, _ := sub["subscriptionId"].(string)
	secret, _ := sub["secretKey"].(string)
	if len(id) != 24 || !strings.HasPrefix(secret, "whsec_") || sub["url"] != "https://example.com/hook" ||
		sub["description"] != "crm" || sub["enabled"] != true || len(sub["events"].([]any)) != 2 {
		t.Errorf("subscribe answer %v", sub)
	}

	for body, want := range map[string]string{
		`{"url":"not a url"}`:                                         "url:",
		`{"url":"ftp://example.com"}`:                                 "http://",
		`{"url":"http://169.254.169.254/latest"}`:                     "link-local",
		`{"description":"no url"}`:                                    "url: required",
		`{"url":"https://example.com","events":["DOCUMENT_CREATED"]}`: `unknown event type "DOCUMENT_CREATED"`,
		`{"url":"https://example.com","event":["DOCUMENTS_CREATED"]}`: `unknown field "event"`,
		`{"url":"https://example.com","enabled":"yes"}`:               "enabled must be bool",
		``: "empty",
	} {
		code, out := a.call(t, "POST", "/public/webhook/subscribe", bearer, body)
		if code != http.StatusBadRequest || !strings.Contains(out["error"].(string), want) {
			t.Errorf("%s: %d %v, want 400 with %q", body, code, out, want)
		}
	}

	code, list := a.call(t, "GET", "/public/webhook/subscriptions", bearer, "")
	subs := list["subscriptions"].([]any)
	if code != 200 || len(subs) != 1 {
		t.Fatalf("list: %d %v", code, list)
	}
	if _, has := subs[0].(map[string]any)["secretKey"]; has {
		t.Error("list shows the secret")
	}

	code, up := a.call(t, "POST", "/public/webhook/subscription/"+id, bearer, `{"enabled":false,"description":"paused"}`)
	if code != 200 || up["enabled"] != false || up["description"] != "paused" || up["url"] != "https://example.com/hook" {
		t.Errorf("update: %d %v", code, up)
	}
	if code, out := a.call(t, "POST", "/public/webhook/subscription/"+id, bearer, `{"events":["NOPE"]}`); code != 400 || out["field"] != "events" {
		t.Errorf("bad update: %d %v", code, out)
	}
	if code, _ := a.call(t, "POST", "/public/webhook/subscription/000000000000000000000000", bearer, `{}`); code != 404 {
		t.Errorf("update unknown: %d", code)
	}
	if code, out := a.call(t, "DELETE", "/public/webhook/unsubscribe/"+id, bearer, ""); code != 200 || out["deleted"] != true {
		t.Errorf("unsubscribe: %d %v", code, out)
	}
	if code, _ := a.call(t, "DELETE", "/public/webhook/unsubscribe/"+id, bearer, ""); code != 404 {
		t.Errorf("unsubscribe twice: %d", code)
	}
	if code, _ := a.call(t, "GET", "/public/webhook/subscription/"+id, bearer, ""); code != 404 {
		t.Errorf("get deleted: %d", code)
	}
}

// TestSubscribeAndReceive subscribes a real receiver through the API and
// checks it receives a published event, signed with the returned secret,
// and that the attempt shows in /deliveries and can be replayed.
func TestSubscribeAndReceive(t *testing.T) {
	t.Parallel()
	a := newAPI(t, token)
	type got struct {
		h    http.Header
		body []byte
	}
	var mu sync.Mutex
	var received []got
	arrived := make(chan struct{}, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, got{r.Header, body})
		mu.Unlock()
		arrived <- struct{}{}
	}))
	defer rcv.Close()
	_, sub := a.call(t, "POST", "/public/webhook/subscribe", bearer, `{"url":"`+rcv.URL+`/in"}`)
	secret := sub["secretKey"].(string)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := delivery.Start(ctx, delivery.Options{JS: a.bus.JS})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	go func() {
		_ = delivery.ServeSubscriptions(ctx, d, a.store, delivery.SubscriptionSending{Allow: loopback, Schedule: delivery.Schedule{10 * time.Millisecond}})
	}()

	v, _ := events.NewValidator()
	_, raw, _ := events.New(events.Metadata{Workflow: "invoices", RunID: "r1", ItemID: "1", BlockID: "b"}, events.EmailsCreated,
		map[string]any{"emails": []map[string]any{{"to": "ada@example.com", "subject": "Hi", "message_id": "<1@x>"}}})
	id, err := events.NewPublisher(a.bus.JS, v).Publish(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription received nothing")
	}
	mu.Lock()
	first := received[0]
	mu.Unlock()
	if !bytes.Equal(first.body, raw) {
		t.Errorf("body %s, want the envelope as published", first.body)
	}
	if err := (verify.Verifier{Secrets: []string{secret}}).Verify(first.h, first.body); err != nil {
		t.Errorf("signature: %v", err)
	}

	var attempts []any
	for deadline := time.Now().Add(5 * time.Second); len(attempts) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, out := a.call(t, "GET", "/public/webhook/deliveries?event="+id, bearer, "")
		attempts, _ = out["attempts"].([]any)
	}
	if len(attempts) != 1 || attempts[0].(map[string]any)["status"] != "delivered" {
		t.Fatalf("deliveries: %v", attempts)
	}
	code, out := a.call(t, "POST", "/public/webhook/replay", bearer, `{"eventId":"`+id+`"}`)
	if code != http.StatusAccepted || len(out["queued"].([]any)) != 1 {
		t.Fatalf("replay: %d %v", code, out)
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the replay did not arrive")
	}
	if code, _ := a.call(t, "POST", "/public/webhook/replay", bearer, `{"eventId":"`+strings.Repeat("a", 48)+`"}`); code != 404 {
		t.Errorf("replay unknown event: %d", code)
	}
	if code, _ := a.call(t, "POST", "/public/webhook/replay", bearer, `{}`); code != 400 {
		t.Errorf("replay nothing: %d", code)
	}
	if code, out := a.call(t, "GET", "/public/webhook/dead-letters", bearer, ""); code != 200 || len(out["deadLetters"].([]any)) != 0 {
		t.Errorf("dead letters: %d %v", code, out)
	}
}
