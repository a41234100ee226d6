package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/webhook/verify"
)

// api is a JSON API on 127.0.0.1 that records what it is sent.
type api struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []*http.Request
	bodies [][]byte
	calls  atomic.Int32
}

func newAPI(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) *api {
	t.Helper()
	a := &api{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.reqs, a.bodies = append(a.reqs, r), append(a.bodies, body)
		a.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body)) // for answer to read again
		answer(w, r, int(a.calls.Add(1)))
	}))
	t.Cleanup(a.Close)
	return a
}

// configure configures the block as the host would, with the host's
// allow-list taking in 127.0.0.1.
func configure(t *testing.T, with string) *Block {
	t.Helper()
	b := &Block{}
	settings := map[string]string{sdk.SettingWebhookAllow: "127.0.0.1/32"}
	if err := b.Configure(context.Background(), sdk.Config{Workflow: "wf", BlockID: "crm", With: json.RawMessage(with), Settings: settings}); err != nil {
		t.Fatal(err)
	}
	return b
}

// item is an item whose with: the host resolved to resolved.
func item(t *testing.T, fields, blocks map[string]any, resolved string) sdk.Item {
	t.Helper()
	it, err := sdk.NewItem("test:1", fields)
	if err != nil {
		t.Fatal(err)
	}
	it.ID, it.RunID = "1", "run-1"
	if blocks != nil {
		raw, _ := json.Marshal(blocks)
		it.RawBlocks = raw
	}
	if resolved != "" {
		it.RawConfig = json.RawMessage(resolved)
	}
	return it
}

func process(t *testing.T, b *Block, it sdk.Item) sdk.Result {
	t.Helper()
	return b.Process(context.Background(), []sdk.Item{it})[0]
}

func TestCallsTheAPIAndOutputsItsAnswer(t *testing.T) {
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "rq-1")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"customer": {"id": 42, "tier": "gold"}}`)
	})
	with := `{"method": "POST", "url": "` + a.URL + `/customers", "auth": {"bearer": "tok-123"}, "query": {"source": "paperflow"},
	  "headers": {"X-Team": "{{Team}}"}, "expect": [200, 201],
	  "body": {"email": "{{Email}}", "count": "{{Count}}", "prev": {"id": "{{blocks.prev.id}}", "label": "id {{blocks.prev.id}}"}, "list": ["{{Email}}", 1, true]}}`
	resolved := `{"method": "POST", "url": "` + a.URL + `/customers", "auth": {"bearer": "tok-123"}, "query": {"source": "paperflow"},
	  "headers": {"X-Team": "blue"}, "expect": [200, 201],
	  "body": {"email": "a\"b@example.com", "count": "3", "prev": {"id": "7", "label": "id 7"}, "list": ["a\"b@example.com", 1, true]}}`
	b := configure(t, with)
	res := process(t, b, item(t, map[string]any{"Email": `a"b@example.com`, "Count": 3, "Team": "blue"}, map[string]any{"prev": map[string]any{"id": 7}}, resolved))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	req := a.reqs[0]
	if req.Method != http.MethodPost || req.URL.Path != "/customers" || req.URL.Query().Get("source") != "paperflow" ||
		req.Header.Get("Authorization") != "Bearer tok-123" || req.Header.Get("X-Team") != "blue" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s %v", req.Method, req.URL, req.Header)
	}
	if got, want := string(a.bodies[0]), `{"count":3,"email":"a\"b@example.com","list":["a\"b@example.com",1,true],"prev":{"id":7,"label":"id 7"}}`; got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	out, _ := json.Marshal(res.Outputs)
	var o struct {
		Status   int               `json:"status"`
		Headers  map[string]string `json:"headers"`
		Response struct {
			Customer struct {
				ID int `json:"id"`
			} `json:"customer"`
		} `json:"response"`
	}
	if err := json.Unmarshal(out, &o); err != nil || o.Status != 201 || o.Response.Customer.ID != 42 || o.Headers["X-Request-Id"] != "rq-1" {
		t.Errorf("outputs %s (%v)", out, err)
	}
}

func TestTextAnswerAndExpectedStatus(t *testing.T) {
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.URL.Path == "/missing" {
			http.Error(w, "no such customer", http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, "plain answer")
	})
	b := configure(t, `{"url": "`+a.URL+`/x"}`)
	res := process(t, b, item(t, nil, nil, ""))
	if res.Err != nil || res.Outputs["text"] != "plain answer" || res.Outputs["response"] != nil {
		t.Errorf("text answer: %+v", res)
	}
	b = configure(t, `{"url": "`+a.URL+`/missing", "expect": [200]}`)
	res = process(t, b, item(t, nil, nil, ""))
	var se *sdk.Error
	if res.Err == nil || !strings.Contains(res.Err.Error(), "answered 404 Not Found, expected 200: no such customer") || (errors.As(res.Err, &se) && se.Retryable) {
		t.Errorf("404: %v", res.Err)
	}
	if a.calls.Load() != 2 {
		t.Errorf("a 404 was retried: %d calls", a.calls.Load())
	}
}

func TestRetriesHonourRetryAfter(t *testing.T) {
	callRetry.Initial = time.Millisecond
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.WriteHeader(http.StatusBadGateway)
		default:
			_, _ = io.WriteString(w, `{"ok": true}`)
		}
	})
	b := configure(t, `{"url": "`+a.URL+`"}`)
	start := time.Now()
	res := process(t, b, item(t, nil, nil, ""))
	if res.Err != nil || a.calls.Load() != 3 {
		t.Fatalf("%v after %d calls", res.Err, a.calls.Load())
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("Retry-After: 1 not honoured: done after %s", el)
	}

	always := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusServiceUnavailable) })
	b = configure(t, `{"url": "`+always.URL+`", "retries": 2}`)
	res = process(t, b, item(t, nil, nil, ""))
	var se *sdk.Error
	if !errors.As(res.Err, &se) || !se.Retryable || always.calls.Load() != 3 || !strings.Contains(se.Error(), "after 3 attempts") {
		t.Errorf("exhausted retries: %v after %d calls", res.Err, always.calls.Load())
	}
}

func TestLimits(t *testing.T) {
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		_, _ = io.WriteString(w, strings.Repeat("x", 2000))
	})
	b := configure(t, `{"url": "`+a.URL+`", "max_response": 1000}`)
	if res := process(t, b, item(t, nil, nil, "")); res.Err == nil || !strings.Contains(res.Err.Error(), "larger than 1000 bytes") {
		t.Errorf("large response: %v", res.Err)
	}

	b = configure(t, `{"url": "`+a.URL+`", "rate_limit": 20}`)
	items := make([]sdk.Item, 6)
	for i := range items {
		items[i] = item(t, nil, nil, "")
	}
	start := time.Now()
	for _, r := range b.Process(context.Background(), items) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if el := time.Since(start); el < 240*time.Millisecond {
		t.Errorf("6 calls at 20/s took %s", el)
	}

	b = &Block{}
	if err := b.Configure(context.Background(), sdk.Config{BlockID: "crm", With: json.RawMessage(`{"url": "` + a.URL + `"}`)}); err != nil {
		t.Fatal(err)
	}
	before := a.calls.Load()
	if res := process(t, b, item(t, nil, nil, "")); res.Err == nil || !strings.Contains(res.Err.Error(), "refused to connect to loopback address") || a.calls.Load() != before {
		t.Errorf("loopback without the allow-list: %v", res.Err)
	}
}

func TestAuth(t *testing.T) {
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request, _ int) {})
	for _, auth := range []string{`{"basic": {"username": "ada", "password": "pw:1"}}`, `{"hmac": "whsec_c2lnbmluZy1zZWNyZXQ="}`} {
		b := configure(t, `{"url": "`+a.URL+`", "method": "PUT", "body": {"a": 1}, "auth": `+auth+`}`)
		if res := process(t, b, item(t, nil, nil, "")); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if u, p, ok := a.reqs[0].BasicAuth(); !ok || u != "ada" || p != "pw:1" {
		t.Errorf("basic auth %q %q", u, p)
	}
	if err := (verify.Verifier{Secrets: []string{"whsec_c2lnbmluZy1zZWNyZXQ="}}).Verify(a.reqs[1].Header, a.bodies[1]); err != nil || a.reqs[1].Header.Get("webhook-id") != "run-1.1.crm" {
		t.Errorf("hmac signature: %v, %v", err, a.reqs[1].Header)
	}
}

func TestConfigureErrors(t *testing.T) {
	for with, want := range map[string]string{
		`{"url": "ftp://x"}`: "url: want an http:// or https:// URL",
		`{"url": "https://x", "method": "GET", "body": {"a": 1}}`: "a GET request has no body",
		`{"url": "https://x", "timeout": "forever"}`:              "timeout: want a duration",
		`{"url": "https://x", "nope": 1}`:                         `unknown field "nope"`,
		`{"url": "https://x", "content_type": "///"}`:             "content_type: not a media type",
	} {
		err := (&Block{}).Configure(context.Background(), sdk.Config{BlockID: "crm", With: json.RawMessage(with)})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "block crm") {
			t.Errorf("%s: got %v, want %q", with, err, want)
		}
	}
}
