package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paperflow/paperflow/plugins/webhook/verify"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const env = `{"eventId":"4f1c0a","eventType":"DOCUMENTS_CREATED","data":{"documents":[]},"metadata":{"workflow":"webhook","run_id":"r","item_id":"7","block_id":"letter"}}`

func post(t *testing.T, url string, body string, sign func(http.Header)) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	sign(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestReceiverVerifiesAndDeduplicates(t *testing.T) {
	var out, errs syncBuffer
	o, err := parseFlags([]string{"-secret", "new-secret, " + DemoSecret}, &errs)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newHandler(o, &out, &errs))
	defer srv.Close()
	now := time.Now().Unix()
	signed := func(secret string) func(http.Header) {
		return func(h http.Header) { verify.NewSigner(secret).Sign(h, "4f1c0a", now, []byte(env)) }
	}
	if code := post(t, srv.URL, env, signed(DemoSecret)); code != http.StatusNoContent {
		t.Errorf("signed delivery: %d", code)
	}
	if code := post(t, srv.URL, env, signed("new-secret")); code != http.StatusNoContent {
		t.Errorf("duplicate with the rotated secret: %d", code)
	}
	if code := post(t, srv.URL, env+" ", signed(DemoSecret)); code != http.StatusUnauthorized {
		t.Errorf("altered body: %d", code)
	}
	if code := post(t, srv.URL, env, signed("someone else's")); code != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", code)
	}
	if code := post(t, srv.URL, env, func(http.Header) {}); code != http.StatusUnauthorized {
		t.Errorf("unsigned: %d", code)
	}
	if got := strings.Count(out.String(), "4f1c0a"); got != 1 {
		t.Errorf("printed the event %d times:\n%s", got, out.String())
	}
	if !strings.Contains(out.String(), "DOCUMENTS_CREATED") || !strings.Contains(out.String(), "item=7") {
		t.Errorf("output %q", out.String())
	}
	if !strings.Contains(errs.String(), "refused a delivery") {
		t.Errorf("refusals not reported: %q", errs.String())
	}
}

func TestRunServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errs syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-json"}, &out, &errs) }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(errs.String(), "receiving paperflow webhooks on") {
		if time.Now().After(deadline) {
			t.Fatalf("did not start: %q", errs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	url := strings.TrimSpace(strings.TrimPrefix(errs.String(), "receiving paperflow webhooks on "))
	code := post(t, url, env, func(h http.Header) { verify.NewSigner(DemoSecret).Sign(h, "4f1c0a", time.Now().Unix(), []byte(env)) })
	if code != http.StatusNoContent || strings.TrimSpace(out.String()) != env {
		t.Errorf("%d, printed %q", code, out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if _, err := parseFlags([]string{"extra"}, io.Discard); err == nil {
		t.Error("stray argument accepted")
	}
}
