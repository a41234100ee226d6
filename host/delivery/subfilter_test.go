package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/httpapi"
)

// apiCall sends a JSON request to the subscriptions API and decodes the
// answer into out.
func apiCall(t *testing.T, method, url, token, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s answered %d %s", method, url, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

// TestSubscriptionFilters: a subscription created through the API with
// workflows, a condition in Port's shape and headers gets only the events
// of its workflows that pass the condition, with its headers; creating it
// again answers 409 with its id unless allowDuplicate; listing hides the
// headers' values.
func TestSubscriptionFilters(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := delivery.OpenSubscriptions(ctx, b.JS, 1, loopback)
	if err != nil {
		t.Fatal(err)
	}
	const token = "api-token-for-the-test"
	mux := http.NewServeMux()
	(&httpapi.Subscriptions{Store: store, JS: b.JS, Token: token, Log: logger(t)}).Register(mux)
	api := httptest.NewServer(mux)
	defer api.Close()

	var mu sync.Mutex
	got := map[string]http.Header{} // by event id
	arrived := make(chan struct{}, 100)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("webhook-id")] = r.Header.Clone()
		mu.Unlock()
		arrived <- struct{}{}
	}))
	defer rcv.Close()

	body := `{"url": "` + rcv.URL + `/hook", "events": ["DOCUMENTS_CREATED"], "workflows": ["invoices", "offers"],
	  "condition": {"type": "JQ", "expressions": [".metadata.item_id != \"0\""], "combinator": "and"},
	  "headers": {"X-Api-Key": "key-of-the-receiver", "X-Event": "#event_type"}}`
	var sub delivery.Subscription
	if code := apiCall(t, http.MethodPost, api.URL+"/public/webhook/subscribe", token, body, &sub); code != http.StatusCreated {
		t.Fatalf("subscribe: %d %+v", code, sub)
	}
	var dup struct {
		ID    string `json:"subscriptionId"`
		Error string `json:"error"`
	}
	if code := apiCall(t, http.MethodPost, api.URL+"/public/webhook/subscribe", token, body, &dup); code != http.StatusConflict || dup.ID != sub.ID {
		t.Errorf("the same subscription again: %d %+v, want 409 with %s", code, dup, sub.ID)
	}
	var other delivery.Subscription
	allow := body[:len(body)-1] + `, "allowDuplicate": true}`
	if code := apiCall(t, http.MethodPost, api.URL+"/public/webhook/subscribe", token, allow, &other); code != http.StatusCreated || other.ID == sub.ID {
		t.Errorf("allowDuplicate: %d %+v", code, other)
	}
	if code := apiCall(t, http.MethodDelete, api.URL+"/public/webhook/unsubscribe/"+other.ID, token, "", nil); code != http.StatusOK {
		t.Errorf("unsubscribe: %d", code)
	}
	var bad map[string]string
	if code := apiCall(t, http.MethodPost, api.URL+"/public/webhook/subscribe", token, `{"url": "https://example.com", "workflows": ["Bad Name"]}`, &bad); code != http.StatusBadRequest || bad["field"] != "workflows" {
		t.Errorf("bad workflow name: %d %v", code, bad)
	}
	var list struct {
		Subscriptions []delivery.Subscription `json:"subscriptions"`
	}
	apiCall(t, http.MethodGet, api.URL+"/public/webhook/subscriptions", token, "", &list)
	if len(list.Subscriptions) != 1 || list.Subscriptions[0].Headers["X-Api-Key"] != "(hidden)" || len(list.Subscriptions[0].Workflows) != 2 {
		t.Errorf("list: %+v", list.Subscriptions)
	}

	d := start(t, options(t, b))
	go func() {
		_ = delivery.ServeSubscriptions(ctx, d, store, delivery.SubscriptionSending{Allow: loopback, Schedule: fast})
	}()
	awaitTargets(t, d, 1)
	publish(t, b, "contracts", 3) // another workflow: not sent
	want := append(publish(t, b, "invoices", 3)[1:], publish(t, b, "offers", 2)[1:]...)
	for range want {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d events arrived", len(got), len(want))
		}
	}
	awaitAttempts(t, b, sub.Ref(), "3 deliveries", func(as []delivery.Attempt) bool { return len(as) >= 3 })
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Errorf("%d events arrived, want %d", len(got), len(want))
	}
	for _, id := range want {
		h := got[id]
		if h == nil || h.Get("X-Api-Key") != "key-of-the-receiver" || h.Get("X-Event") != "DOCUMENTS_CREATED" {
			t.Errorf("event %s: headers %v", id, h)
		}
	}
}
