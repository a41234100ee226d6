package console_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/console"
	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
)

// consoleHost is the console of one `serve` host among several on one
// NATS: its own engine, data directory (deployed versions' files) and
// address, as a second process behind a load balancer would have.
type consoleHost struct {
	url      string
	engine   *engine.Engine
	deployed *deploy.Store
	data     string
}

// startHosts starts n console hosts on one embedded NATS.
func startHosts(t *testing.T, n int) (*bus.Bus, []*consoleHost) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs block binaries through the engine")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b := hosttest.StartBus(t, t.TempDir())
	log := hosttest.Logger(t, slog.LevelWarn)
	var hosts []*consoleHost
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		h := &consoleHost{url: "http://" + ln.Addr().String(), data: t.TempDir()}
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
			Starter: deployedStarter{h}, Token: testToken, ReadOnlyToken: readOnlyToken, PublicURL: h.url, Log: log,
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
	started := make(chan string, 1)
	failed := make(chan error, 1)
	go func() {
		_, err := s.h.engine.Run(context.WithoutCancel(ctx), wf, engine.RunOptions{RunID: resume, Version: rec.Version, OnStart: func(id string) { started <- id }})
		if err != nil {
			failed <- err
		}
	}()
	select {
	case id := <-started:
		return id, nil
	case err := <-failed:
		return "", err
	}
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
