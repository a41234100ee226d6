package console_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/console"
	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
)

// consoleHost is the console of one `serve` host among several on one
// NATS: its own engine, data directory (deployed versions' files) and
// address, as a second process behind a load balancer would have.
type consoleHost struct {
	ctx      context.Context // the host's life
	url      string
	engine   *engine.Engine
	deployed *deploy.Store
	data     string
}

// hostTokens are the tokens a host's console logs in with.
type hostTokens struct{ token, readOnly string }

// startHosts starts n console hosts on one embedded NATS.
func startHosts(t *testing.T, n int) (*bus.Bus, []*consoleHost) {
	t.Helper()
	tokens := make([]hostTokens, n)
	for i := range tokens {
		tokens[i] = hostTokens{testToken, readOnlyToken}
	}
	return startHostsWith(t, tokens...)
}

// startHostsWith starts a console host per tokens on one embedded NATS.
func startHostsWith(t *testing.T, tokens ...hostTokens) (*bus.Bus, []*consoleHost) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs block binaries through the engine")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b := hosttest.StartBus(t, t.TempDir())
	log := hosttest.Logger(t, slog.LevelWarn)
	var hosts []*consoleHost
	for _, tok := range tokens {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		h := &consoleHost{ctx: ctx, url: "http://" + ln.Addr().String(), data: t.TempDir()}
		h.engine, err = engine.New(ctx, engine.Options{
			Bus: b, Plugins: pluginhost.Registry{Dir: pluginDir}, PublicURL: h.url,
			Mail: mail.Outbox{Dir: filepath.Join(h.data, "outbox")}, Log: log, RetryDelay: 20 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		h.deployed = deploy.New(h.engine.Store(), deploy.Options{CacheDir: filepath.Join(h.data, "workflows"), Catalog: h.engine.Catalog(), Log: log})
		opts, err := console.FromHost(ctx, console.Host{
			Bus: b, Engine: h.engine, Loaded: &console.StaticWorkflows{}, Deployed: h.deployed,
			Starter: deployedStarter{h}, Token: tok.token, ReadOnlyToken: tok.readOnly, PublicURL: h.url, Log: log,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: console.New(opts), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		hosts = append(hosts, h)
	}
	return b, hosts
}

// deployedStarter resumes a run as serve does for a run of a deployed
// version: the version from NATS, not the file the run names.
type deployedStarter struct{ h *consoleHost }

func (s deployedStarter) StartRun(ctx context.Context, _, resume string) (string, error) {
	rec, err := s.h.engine.RunRecord(ctx, resume)
	if err != nil {
		return "", err
	}
	wf, _, err := s.h.deployed.Load(ctx, rec.Workflow, rec.Version)
	if err != nil {
		return "", err
	}
	return startRun(s.h.ctx, s.h.engine, wf, resume, rec.Version)
}

// TestSessionsSharedByHosts: a login made on one host opens the pages of
// another on the same NATS; logging out on either ends it on both.
func TestSessionsSharedByHosts(t *testing.T) {
	_, hosts := startHosts(t, 2)
	a, b := hosts[0], hosts[1]
	cases := []struct {
		name, token string
		readOnly    bool
	}{
		{"operator", testToken, false},
		{"read-only", readOnlyToken, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := login(t, a.url, tc.token)
			cookie := sessionCookie(t, c, a.url)
			if cookie == "" {
				t.Fatal("no session cookie after logging in")
			}
			// The same cookie, sent to the other host.
			other := withCookie(cookie)
			resp, body := get(t, other, b.url+"/runs")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("host B with host A's session: %s, want the page", resp.Status)
			}
			if got := strings.Contains(body, "read-only"); got != tc.readOnly {
				t.Fatalf("host B shows read-only=%v, want %v", got, tc.readOnly)
			}
			// The CSRF token of host A's page is good on host B.
			_, pageA := get(t, c, a.url+"/runs")
			token := csrfField.FindStringSubmatch(pageA)[1]
			resp, err := other.PostForm(b.url+"/logout", url.Values{"csrf": {token}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("log out on host B with host A's form token: %s, want a redirect", resp.Status)
			}
			for _, h := range hosts {
				resp, _ := get(t, withCookie(cookie), h.url+"/runs")
				if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
					t.Fatalf("%s after logout: %s to %q, want the login form", h.url, resp.Status, resp.Header.Get("Location"))
				}
			}
		})
	}
}

// TestSessionEndsWithItsToken: a session opened with a token that a host
// no longer takes (rotated, or the read-only token removed) is logged
// out there, although the bucket still holds it.
func TestSessionEndsWithItsToken(t *testing.T) {
	_, hosts := startHostsWith(t,
		hostTokens{testToken, readOnlyToken},
		hostTokens{"console-rotated-token", ""}, // the operator's token changed, the read-only one withdrawn
		hostTokens{readOnlyToken, testToken},    // the two swapped
	)
	old, rotated, swapped := hosts[0], hosts[1], hosts[2]
	for _, tok := range []string{testToken, readOnlyToken} {
		cookie := sessionCookie(t, login(t, old.url, tok), old.url)
		for _, h := range []*consoleHost{rotated, swapped} {
			resp, _ := get(t, withCookie(cookie), h.url+"/runs")
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
				t.Fatalf("a session opened with %q, on %s, which does not take that token for it: %s to %q, want the login form",
					tok, h.url, resp.Status, resp.Header.Get("Location"))
			}
		}
		if resp, _ := get(t, withCookie(cookie), old.url+"/runs"); resp.StatusCode != http.StatusOK {
			t.Fatalf("the session on the host that opened it: %s, want the page", resp.Status)
		}
	}
	// A session of the new token works on the host that takes it.
	c := login(t, rotated.url, "console-rotated-token")
	if resp, _ := get(t, c, rotated.url+"/runs"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a session of the new token: %s, want the page", resp.Status)
	}
}

// TestFailedLoginsCountPerClient: behind the operator's proxy, where every
// connection comes from the proxy's address, one client's wrong tokens
// make that client wait, not everyone who logs in through the proxy.
func TestFailedLoginsCountPerClient(t *testing.T) {
	_, hosts := startHosts(t, 1)
	base := hosts[0].url
	loginFrom := func(client, token string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", client) // as the proxy on 127.0.0.1 passes it on
		resp, err := withCookie("").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const guesser, operator = "203.0.113.5", "198.51.100.7"
	for range 10 {
		if got := loginFrom(guesser, "wrong"); got != http.StatusUnauthorized {
			t.Fatalf("a wrong token: %d, want 401", got)
		}
	}
	if got := loginFrom(guesser, "wrong"); got != http.StatusTooManyRequests {
		t.Fatalf("the 11th wrong token in a minute: %d, want 429", got)
	}
	if got := loginFrom(operator, testToken); got != http.StatusSeeOther {
		t.Fatalf("another client through the same proxy, with the right token: %d, want the login to go through", got)
	}
}

// TestFailedLoginsCountPerConnectionToo: a client that names another
// address in X-Forwarded-For at every try, on a network where nothing in
// front sets that header, is still made to wait, once its connection's
// address has failed ten times a client's limit; another connection's
// client is not.
func TestFailedLoginsCountPerConnectionToo(t *testing.T) {
	_, hosts := startHosts(t, 1)
	base := hosts[0].url
	loginFrom := func(client, token string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", client)
		resp, err := withCookie("").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 100 {
		if got := loginFrom(fmt.Sprintf("203.0.113.%d", i), "wrong"); got != http.StatusUnauthorized {
			t.Fatalf("wrong token %d, each from another forwarded address: %d, want 401", i+1, got)
		}
	}
	if got := loginFrom("198.51.100.7", "wrong"); got != http.StatusTooManyRequests {
		t.Fatalf("the 101st wrong token in a minute from one connection address: %d, want 429", got)
	}
}

// TestSessionKeyIsNotTheCookie: the bucket holds a hash of the session
// id, never the cookie's value.
func TestSessionKeyIsNotTheCookie(t *testing.T) {
	b, hosts := startHosts(t, 1)
	c := login(t, hosts[0].url, testToken)
	cookie := sessionCookie(t, c, hosts[0].url)
	kv, err := b.JS.KeyValue(context.Background(), console.SessionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("%d sessions in the bucket, want 1", len(keys))
	}
	e, err := kv.Get(context.Background(), keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(keys[0], cookie) || strings.Contains(string(e.Value()), cookie) {
		t.Fatal("the bucket holds the session cookie's value")
	}
	_, page := get(t, c, hosts[0].url+"/runs")
	if token := csrfField.FindStringSubmatch(page)[1]; strings.Contains(string(e.Value()), token) {
		t.Fatal("the bucket holds the session's CSRF token")
	}
}

// login logs in at base with token and returns the client holding the
// session cookie; it follows no redirect.
func login(t *testing.T, base, token string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(base+"/login", url.Values{"token": {token}, "next": {"/runs"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("log in at %s: %s", base, resp.Status)
	}
	return c
}

func sessionCookie(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "paperflow_console" {
			return ck.Value
		}
	}
	return ""
}

// withCookie is a client that sends the session cookie to any host (as a
// browser does to a load balancer's one address) and follows no redirect.
func withCookie(value string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: cookieTransport(value),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type cookieTransport string

func (v cookieTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.AddCookie(&http.Cookie{Name: "paperflow_console", Value: string(v)})
	return http.DefaultTransport.RoundTrip(r)
}

// gatedYAML is a workflow whose item 2 fails until the marker exists and
// then, once retried, holds until the gate exists.
const gatedYAML = `name: gated
source:
  uses: csv
  with:
    path: items.csv
blocks:
  - id: check
    uses: flaky
    with:
      marker: %q
      gate: %q
`

// gatedRun deploys the gated workflow from a folder of its own on host h,
// runs it there, and removes the folder and h's copy of the version:
// whatever retries it afterwards has only NATS to load it from. It
// returns the run id and the marker and gate files.
func gatedRun(t *testing.T, h *consoleHost) (runID, marker, gate string) {
	t.Helper()
	files := t.TempDir()
	marker, gate = filepath.Join(files, "fixed"), filepath.Join(files, "open")
	dir := t.TempDir()
	file := filepath.Join(dir, "gated.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(gatedYAML, marker, gate)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "items.csv"), []byte("name,fail\nAda,no\nBob,yes\nCy,no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wf, problems := workflow.Load(file, h.engine.Catalog())
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	res, err := h.deployed.DeployFile(h.ctx, wf, "test")
	if err != nil {
		t.Fatal(err)
	}
	deployed, _, err := h.deployed.Load(h.ctx, wf.Name, res.Version)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := h.engine.Run(h.ctx, deployed, engine.RunOptions{Version: res.Version})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 {
		t.Fatalf("%d items failed, want 1 (item 2)", sum.Failed)
	}
	for _, d := range []string{dir, filepath.Join(h.data, "workflows")} {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	return sum.RunID, marker, gate
}

// post sends a console form as postRaw does and returns the answer's
// text.
func post(t *testing.T, c *http.Client, base, page, path string, form url.Values) (int, string) {
	t.Helper()
	status, body := postRaw(t, c, base, page, path, form)
	return status, html.UnescapeString(body)
}

// watchLease watches a run's lease; released waits until it is let go.
func watchLease(t *testing.T, b *bus.Bus, runID string) (released func()) {
	t.Helper()
	kv, err := b.JS.KeyValue(context.Background(), console.RunLocksBucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(context.Background(), "run."+runID, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop() })
	return func() {
		t.Helper()
		timeout := time.After(time.Minute)
		for {
			select {
			case e := <-w.Updates():
				if e != nil && e.Operation() != jetstream.KeyValuePut {
					return
				}
			case <-timeout:
				t.Fatal("the run's lease was not released within a minute")
			}
		}
	}
}

// itemStatus reads an item's status as the run page's filter shows it.
func itemStatus(t *testing.T, c *http.Client, base, runID, item string) string {
	t.Helper()
	for _, st := range []string{"succeeded", "failed"} {
		_, body := get(t, c, base+"/runs/"+runID+"?status="+st)
		if strings.Contains(body, `href="/runs/`+runID+`/items/`+item+`"`) {
			return st
		}
	}
	return "pending"
}

const busyText = "a retry or resume of this run is already going"

// TestRetryAndResumeShareALease: two retries of one run asked at once on
// two hosts: one goes, the other is refused; a resume asked while the
// retry goes is refused too; once the retry ends, the run resumes.
func TestRetryAndResumeShareALease(t *testing.T) {
	b, hosts := startHosts(t, 2)
	runID, marker, gate := gatedRun(t, hosts[0])
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	clients := []*http.Client{login(t, hosts[0].url, testToken), login(t, hosts[1].url, testToken)}
	released := watchLease(t, b, runID)

	type answer struct {
		status int
		body   string
	}
	answers := make([]answer, 2)
	pages := make([]string, 2)
	var tokens sync.WaitGroup
	start := make(chan struct{})
	var done sync.WaitGroup
	for i, h := range hosts {
		_, pages[i] = get(t, clients[i], h.url+"/runs/"+runID)
		token := csrfField.FindStringSubmatch(pages[i])[1]
		tokens.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			tokens.Done()
			<-start
			resp, err := clients[i].PostForm(h.url+"/runs/"+runID+"/retry", url.Values{"csrf": {token}, "item": {"2"}})
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			answers[i] = answer{resp.StatusCode, html.UnescapeString(string(raw))}
		}()
	}
	tokens.Wait()
	close(start)
	done.Wait()
	went := -1
	for i, a := range answers {
		switch {
		case a.status == http.StatusSeeOther && went < 0:
			went = i
		case a.status == http.StatusConflict && strings.Contains(a.body, busyText):
		default:
			t.Fatalf("retry on host %d: %d, want one retry to go (303) and the other refused (409 %q):\n%s", i, a.status, busyText, a.body)
		}
	}
	if went < 0 {
		t.Fatal("neither retry went")
	}
	other := 1 - went
	status, body := post(t, clients[other], hosts[other].url, "/runs/"+runID, "/runs/"+runID+"/resume", url.Values{})
	if status != http.StatusConflict || !strings.Contains(body, busyText) {
		t.Fatalf("resume while the retry goes: %d, want 409 %q:\n%s", status, busyText, body)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	released()
	if st := itemStatus(t, clients[other], hosts[other].url, runID, "2"); st != "succeeded" {
		t.Fatalf("item 2 after the retry: %s, want succeeded", st)
	}
	status, body = post(t, clients[other], hosts[other].url, "/runs/"+runID, "/runs/"+runID+"/resume", url.Values{})
	if status != http.StatusSeeOther {
		t.Fatalf("resume after the retry ended: %d, want it to go:\n%s", status, body)
	}
}

// TestRetryOfADeployedRunOnAnotherHost: a run of a deployed version is
// retried by a host that never had the workflow's folder: the version
// comes from NATS, not the path the run's first host loaded it from.
func TestRetryOfADeployedRunOnAnotherHost(t *testing.T) {
	b, hosts := startHosts(t, 2)
	runID, marker, gate := gatedRun(t, hosts[0])
	for _, f := range []string{marker, gate} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := login(t, hosts[1].url, testToken)
	_, page := get(t, c, hosts[1].url+"/runs/"+runID)
	if !strings.Contains(page, "Retry every failed item") {
		t.Fatal("host B does not offer to retry the deployed run's failed items")
	}
	released := watchLease(t, b, runID)
	status, body := post(t, c, hosts[1].url, "/runs/"+runID, "/runs/"+runID+"/retry", url.Values{"all": {"1"}})
	if status != http.StatusSeeOther {
		t.Fatalf("retry on host B: %d:\n%s", status, body)
	}
	released()
	if st := itemStatus(t, c, hosts[1].url, runID, "2"); st != "succeeded" {
		t.Fatalf("item 2 after host B's retry: %s, want succeeded", st)
	}
}
