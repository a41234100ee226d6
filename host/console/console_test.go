package console_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/engine"
)

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func TestLoginSessionAndHeaders(t *testing.T) {
	e := newEnv(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := get(t, noRedirect, e.url+"/runs")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("logged out /runs: %s to %q, want a redirect to /login", resp.Status, resp.Header.Get("Location"))
	}
	resp, err := noRedirect.PostForm(e.url+"/login", url.Values{"token": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %s, want 401", resp.Status)
	}
	resp, err = noRedirect.PostForm(e.url+"/login", url.Values{"token": {testToken}, "next": {"//evil.example/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "/runs" {
		t.Fatalf("login redirect to %q, want /runs (never off the console)", loc)
	}
	ck := resp.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || len(ck[0].Value) != 64 {
		t.Fatalf("session cookie %+v: want one HttpOnly, SameSite=Strict cookie with a random id", ck)
	}
	c := e.client(t, testToken)
	for _, path := range []string{"/runs", "/workflows", "/webhooks", "/events"} {
		resp, body := get(t, c, e.url+path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		m := regexp.MustCompile(`script-src 'nonce-([0-9a-f]{32})'`).FindStringSubmatch(csp)
		if m == nil || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Fatalf("%s: CSP %q", path, csp)
		}
		if !strings.Contains(body, `nonce="`+m[1]+`"`) {
			t.Fatalf("%s: the page's script and style do not carry the CSP nonce", path)
		}
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if h.Get(k) != want {
				t.Fatalf("%s: %s = %q, want %q", path, k, h.Get(k), want)
			}
		}
	}
	// Logout ends the session on the server, not only in the browser.
	_, body := get(t, c, e.url+"/runs")
	token := csrfField.FindStringSubmatch(body)[1]
	u, _ := url.Parse(e.url)
	old := c.Jar.Cookies(u)
	resp, err = c.PostForm(e.url+"/logout", url.Values{"csrf": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.Jar.SetCookies(u, old)
	resp, _ = get(t, noRedirectWith(c), e.url+"/runs")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout the old cookie still opens /runs: %s", resp.Status)
	}
}

func noRedirectWith(c *http.Client) *http.Client {
	return &http.Client{Jar: c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func TestReadOnlyAndCSRF(t *testing.T) {
	e := newEnv(t)
	ro := e.client(t, readOnlyToken)
	_, body := get(t, ro, e.url+"/webhooks")
	if strings.Contains(body, `action="/webhooks"`) || !strings.Contains(body, "read-only") {
		t.Fatal("the read-only view offers the form to create a subscription")
	}
	token := csrfField.FindStringSubmatch(body)[1] // the logout form's
	resp, err := ro.PostForm(e.url+"/webhooks", url.Values{"csrf": {token}, "url": {"http://127.0.0.1:9/x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("read-only session created a subscription: %s", resp.Status)
	}
	rw := e.client(t, testToken)
	resp, err = rw.PostForm(e.url+"/webhooks", url.Values{"url": {"http://127.0.0.1:9/x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a POST without the CSRF token: %s, want 403", resp.Status)
	}
}

func TestRunPageEscapesItemValues(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(filepath.Join(e.dir, "items.csv"), []byte(itemsCSV(5)), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := e.engine.Run(context.Background(), e.wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 {
		t.Fatalf("failed items: %d, want 1 (item 3)", sum.Failed)
	}
	c := e.client(t, testToken)
	for _, path := range []string{"/runs/" + sum.RunID, "/runs/" + sum.RunID + "/items/3", "/runs/" + sum.RunID + "/items/2"} {
		resp, body := get(t, c, e.url+path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s\n%s", path, resp.Status, body)
		}
		if strings.Contains(body, "<img") {
			t.Fatalf("%s: an item value went into the page as HTML", path)
		}
		if !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") {
			t.Fatalf("%s: the item value is not shown as text", path)
		}
	}
	_, body := get(t, c, e.url+"/runs/"+sum.RunID)
	if !strings.Contains(body, "items.csv:4") {
		t.Fatal("the failed item's origin (items.csv:4) is not shown")
	}
}
