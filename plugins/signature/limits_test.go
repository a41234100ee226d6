package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/plugins/ratelimit"
)

// randomToken is a well-formed link token that names nothing.
func randomToken() string {
	raw := make([]byte, tokenBytes)
	_, _ = rand.Read(raw)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// call sends one request to a signing-page URL as a client at ip would
// reach it through a proxy of the operator (the test server's peer is
// 127.0.0.1, so X-Forwarded-For is believed).
func call(t testing.TB, method, link, ip string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, link, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// checkTooMany checks a 429 answer: Retry-After in whole seconds within
// (0, max], and the plain HTML message page.
func checkTooMany(t testing.TB, resp *http.Response, body string, max int) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429:\n%s", resp.StatusCode, body)
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > max {
		t.Errorf("Retry-After %q, want 1..%d seconds", resp.Header.Get("Retry-After"), max)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" || !strings.Contains(body, "Too many attempts") {
		t.Errorf("429 page: %s\n%s", ct, body)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	const attacker = "203.0.113.66"
	type target struct {
		method string
		path   string // below /blocks/hiring/sign/
		form   url.Values
	}
	bogus := url.Values{"action": {"nothing"}}
	cases := []struct {
		name string
		// hammer is the n-th request of the attacker; links are the six
		// signing links of three requests (Ada's, order 1, first).
		hammer func(n int, links []string) target
		// allowed requests pass, then the next one gets 429 and
		// Retry-After of at most wait seconds.
		allowed, wait int
	}{
		{"unknown links", func(int, []string) target { return target{"GET", "sign/" + randomToken(), nil} },
			failedLookupBurst, int(failedLookupEvery.Seconds())},
		{"malformed links", func(n int, _ []string) target { return target{"GET", "sign/x" + strconv.Itoa(n), nil} },
			failedLookupBurst, int(failedLookupEvery.Seconds())},
		{"unknown links, POST", func(int, []string) target { return target{"POST", "sign/" + randomToken(), bogus} },
			failedLookupBurst, int(failedLookupEvery.Seconds())},
		{"unknown documents and receipts", func(n int, _ []string) target {
			if n%2 == 0 {
				return target{"GET", "doc/" + randomToken() + "/0", nil}
			}
			return target{"GET", "receipt/" + randomToken(), nil}
		}, failedLookupBurst, int(failedLookupEvery.Seconds())},
		{"one link hammered", func(_ int, links []string) target { return target{"POST", path(links[3]), bogus} },
			tokenPostBurst, int(tokenPostEvery.Seconds())},
		{"many links from one address", func(n int, links []string) target {
			return target{"POST", path(links[1+n%5]), bogus}
		}, postBurst, int(postEvery.Seconds())},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, resolved)
			var links []string
			for i := range 3 {
				links = append(links, f.links(f.process(f.item(strconv.Itoa(i), nil, ""))[0])...)
			}
			base := f.srv.URL + "/blocks/hiring/sign/"
			for n := range c.allowed {
				tg := c.hammer(n, links)
				if resp, body := call(t, tg.method, base+tg.path, attacker, tg.form); resp.StatusCode == http.StatusTooManyRequests {
					t.Fatalf("request %d of %d was limited:\n%s", n+1, c.allowed, body)
				}
			}
			tg := c.hammer(c.allowed, links)
			resp, body := call(t, tg.method, base+tg.path, attacker, tg.form)
			checkTooMany(t, resp, body, c.wait)

			// Meanwhile a signer elsewhere opens and signs her link.
			ada := f.local(links[0])
			resp, page := call(t, "GET", ada, "198.51.100.7", nil)
			m := submissionField.FindStringSubmatch(page)
			if resp.StatusCode != http.StatusOK || m == nil {
				t.Fatalf("Ada's page while %s: %d\n%s", c.name, resp.StatusCode, page)
			}
			form := url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"Ada Lovelace"}, "submission": {m[1]}}
			if resp, body := call(t, "POST", ada, "198.51.100.7", form); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Thank you, Ada Lovelace") {
				t.Errorf("Ada signing while %s: %d\n%s", c.name, resp.StatusCode, body)
			}
		})
	}
}

// path is a link's path below the block's routes.
func path(link string) string {
	u, _ := url.Parse(link)
	return strings.TrimPrefix(u.Path, "/blocks/hiring/sign/")
}

func TestGoodLinksDoNotSpendFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t, resolved)
	link := f.links(f.process(f.item("1", nil, ""))[0])[0]
	for n := range 3 * failedLookupBurst {
		if resp, body := call(t, "GET", f.local(link), "203.0.113.9", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("opening a good link the %d-th time: %d\n%s", n+1, resp.StatusCode, body)
		}
	}
	if n := f.block.limits().failures.Len(); n != 0 {
		t.Errorf("%d failure buckets after good lookups only", n)
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	const keys = 64
	f := newFixture(t, resolved)
	link := f.links(f.process(f.item("1", nil, ""))[0])[1] // HR: not yet, 409
	f.block.rateLimits = newSignLimits(keys)
	srv := httptest.NewServer(http.StripPrefix("/blocks/hiring/sign", f.block))
	t.Cleanup(srv.Close)
	base := srv.URL + "/blocks/hiring/sign/"
	// Each address fails a lookup and sends a POST: a bucket in each
	// per-address table.
	for n := range 20 * keys {
		ip := fmt.Sprintf("198.18.%d.%d", n>>8, n&255)
		call(t, "GET", base+"sign/"+randomToken(), ip, nil)
		call(t, "POST", base+path(link), ip, url.Values{"action": {"nothing"}})
	}
	l := f.block.limits()
	for name, k := range map[string]*ratelimit.Keyed{"failures": l.failures, "posts": l.posts} {
		// Full: the newest addresses are counted, the oldest forgotten.
		if n := k.Len(); n != keys {
			t.Errorf("%s: %d buckets, want %d", name, n, keys)
		}
	}
}

// TestRateLimitsThroughTheHost hammers the real block process through
// the host's HTTP server, as `paperflow serve` mounts it.
func TestRateLimitsThroughTheHost(t *testing.T) {
	env := newHostEnv(t)
	wf := env.load(t, signWorkflow, "Name,Email\nAda,ada@example.com\n")
	if _, err := env.engine.Run(context.Background(), wf, engine.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	env.serveBlock(t, wf, "sign")
	ada := env.outboxLinks(t, "ada@example.com")
	if len(ada) != 1 {
		t.Fatalf("invitations to Ada: %d", len(ada))
	}
	wrong := regexp.MustCompile(`/sign/[^/]+$`).ReplaceAllString(ada[0], "/sign/")
	for _, c := range []struct {
		method string
		form   url.Values
	}{
		{"GET", nil},
		{"POST", url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"x"}}},
	} {
		ip := "203.0.113." + strconv.Itoa(len(c.method))
		for n := range failedLookupBurst {
			if resp, body := call(t, c.method, wrong+randomToken(), ip, c.form); resp.StatusCode != http.StatusNotFound {
				t.Fatalf("%s wrong token %d: %d, want 404\n%s", c.method, n+1, resp.StatusCode, body)
			}
		}
		resp, body := call(t, c.method, wrong+randomToken(), ip, c.form)
		checkTooMany(t, resp, body, int(failedLookupEvery.Seconds()))
		// The limited address is refused even a good link for now.
		if resp, _ := call(t, "GET", ada[0], ip, nil); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("%s: a good link from the limited address: %d, want 429", c.method, resp.StatusCode)
		}
	}
	resp, page := call(t, "GET", ada[0], "198.51.100.7", nil)
	m := submissionField.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("Ada's page: %d\n%s", resp.StatusCode, page)
	}
	form := url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"Ada"}, "submission": {m[1]}}
	if resp, body := call(t, "POST", ada[0], "198.51.100.7", form); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Thank you, Ada") {
		t.Errorf("Ada signing: %d\n%s", resp.StatusCode, body)
	}
}
