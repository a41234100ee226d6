package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/plugins/ratelimit"
)

// cookieName is the session cookie. Its value is a random id; what it
// stands for lives in the SessionsBucket of NATS, under the id's hash.
const cookieName = "paperflow_console"

// sessionTTL ends a session unused for this long.
const sessionTTL = 12 * time.Hour

// sessionRefresh is how often a session in use is written again, to move
// its expiry on: not at every request, so that reading pages costs no
// writes.
const sessionRefresh = 10 * time.Minute

// SessionsBucket keeps the console's sessions in NATS, so that a login
// made on one host works on every host behind the same address. An entry
// is keyed by the SHA-256 of the session id (the cookie's value is never
// stored) and expires sessionTTL after it was last written.
const SessionsBucket = "paperflow_console_sessions"

// session is one logged-in browser.
type session struct {
	id       string
	csrf     string
	readOnly bool
}

// sessionRecord is what a session's entry holds. The CSRF token is not
// in it: it is derived from the session id (csrfToken), which only the
// browser holds, so reading the bucket gives neither.
type sessionRecord struct {
	ReadOnly bool      `json:"read_only"`
	Created  time.Time `json:"created"`
	// Token binds the session to the token it was opened with
	// (tokenMAC): a host that no longer takes that token for the
	// session's role does not take the session either, so changing a
	// token ends the sessions opened with the old one.
	Token string `json:"token"`
}

// Sessions is the store of the console's sessions in NATS, shared by
// every host on the same NATS.
type Sessions struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// OpenSessions opens (creating if needed) the sessions bucket on b, stored
// and replicated as paperflow's other buckets.
func OpenSessions(ctx context.Context, b *bus.Bus) (*Sessions, error) {
	kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: SessionsBucket, Description: "paperflow console sessions, by the hash of their id",
		TTL: sessionTTL, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("console sessions: %w", err)
	}
	return &Sessions{kv: kv, now: time.Now}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sessionKey is a session's key in the bucket: the hash of its id.
func sessionKey(id string) string {
	h := sha256.Sum256([]byte("paperflow console session\x00" + id))
	return hex.EncodeToString(h[:])
}

// csrfToken is a session's CSRF token: a MAC of a fixed label under the
// session id, the same on every host.
func csrfToken(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("paperflow console csrf"))
	return hex.EncodeToString(m.Sum(nil))
}

// tokenMAC is a MAC of the token a session was opened with, under the
// session id: whoever reads the bucket cannot test guesses of the token
// against it.
func tokenMAC(id, token string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("paperflow console token\x00" + token))
	return hex.EncodeToString(m.Sum(nil))
}

// validSessionID is the form of the ids create makes; anything else is
// not looked up.
func validSessionID(id string) bool {
	if len(id) != 64 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// create opens a session for a login with token.
func (s *Sessions) create(ctx context.Context, readOnly bool, token string) (*session, error) {
	id := randomHex(32)
	raw, _ := json.Marshal(sessionRecord{ReadOnly: readOnly, Created: s.now().UTC(), Token: tokenMAC(id, token)})
	if _, err := s.kv.Create(ctx, sessionKey(id), raw); err != nil {
		return nil, fmt.Errorf("store the session in NATS (bucket %s): %w", SessionsBucket, err)
	}
	return &session{id: id, csrf: csrfToken(id), readOnly: readOnly}, nil
}

// get returns the session with this id, nil when there is none (never
// made, logged out, unused for sessionTTL, or opened with a token other
// than tokenFor gives for its role now).
func (s *Sessions) get(ctx context.Context, id string, tokenFor func(readOnly bool) string) (*session, error) {
	if !validSessionID(id) {
		return nil, nil
	}
	key := sessionKey(id)
	e, err := s.kv.Get(ctx, key)
	if bus.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the session from NATS (bucket %s): %w", SessionsBucket, err)
	}
	var rec sessionRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, nil
	}
	if token := tokenFor(rec.ReadOnly); token == "" || !hmac.Equal([]byte(rec.Token), []byte(tokenMAC(id, token))) {
		return nil, nil
	}
	age := s.now().Sub(e.Created())
	if age > sessionTTL {
		return nil, nil
	}
	if age > sessionRefresh {
		// Written again, its expiry moves on. Another host may have
		// done it meanwhile: then its write stands.
		_, _ = s.kv.Update(ctx, key, e.Value(), e.Revision())
	}
	return &session{id: id, csrf: csrfToken(id), readOnly: rec.ReadOnly}, nil
}

// drop ends a session on every host.
func (s *Sessions) drop(ctx context.Context, id string) error {
	if err := s.kv.Purge(ctx, sessionKey(id)); err != nil {
		return fmt.Errorf("remove the session from NATS (bucket %s): %w", SessionsBucket, err)
	}
	return nil
}

// maxFailedLogins in loginWindow from one client makes it wait;
// maxFailedLoginsPerConn from one connection address makes every client
// behind it wait. A client is as ratelimit.ClientKey tells it, which
// believes X-Forwarded-For from loopback and private addresses: on a
// network where nothing in front sets that header, a client naming
// another address at every try would be a new client each time. The
// limit per connection address is higher, so that one client behind the
// operator's proxy does not lock out all the others.
const (
	maxFailedLogins        = 10
	maxFailedLoginsPerConn = 10 * maxFailedLogins
	loginWindow            = time.Minute
	// maxLoginKeys bounds the addresses failures keeps.
	maxLoginKeys = 10000
)

// failures counts failed logins by client and by connection address, on
// this host. Entries of which no failure is recent are dropped once a
// window, and the addresses kept are at most maxLoginKeys.
type failures struct {
	mu     sync.Mutex
	now    func() time.Time // nil: time.Now
	byAddr map[string][]time.Time
	swept  time.Time
}

// Keys of failures.byAddr.
func clientFailKey(client string) string { return "client " + client }
func connFailKey(conn string) string     { return "conn " + conn }

func (f *failures) clock() time.Time {
	if f.now != nil {
		return f.now()
	}
	return time.Now()
}

// tooMany says whether the client, or its connection's address, has
// failed too often lately.
func (f *failures) tooMany(client, conn string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock()
	return f.recentLocked(clientFailKey(client), now) >= maxFailedLogins ||
		f.recentLocked(connFailKey(conn), now) >= maxFailedLoginsPerConn
}

// recentLocked counts key's failures within loginWindow, dropping older
// ones.
func (f *failures) recentLocked(key string, now time.Time) int {
	recent := f.byAddr[key][:0]
	for _, t := range f.byAddr[key] {
		if now.Sub(t) < loginWindow {
			recent = append(recent, t)
		}
	}
	if len(recent) == 0 {
		delete(f.byAddr, key)
		return 0
	}
	f.byAddr[key] = recent
	return len(recent)
}

func (f *failures) add(client, conn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byAddr == nil {
		f.byAddr = map[string][]time.Time{}
	}
	now := f.clock()
	if now.Sub(f.swept) >= loginWindow {
		f.sweepLocked(now)
	}
	for _, key := range []string{clientFailKey(client), connFailKey(conn)} {
		if _, ok := f.byAddr[key]; !ok && len(f.byAddr) >= maxLoginKeys {
			// As many addresses as are kept failed within the last
			// window or two: make room by forgetting one.
			for old := range f.byAddr {
				delete(f.byAddr, old)
				break
			}
		}
		f.byAddr[key] = append(f.byAddr[key], now)
	}
}

// sweepLocked drops the failures older than loginWindow, and the keys
// left without any.
func (f *failures) sweepLocked(now time.Time) {
	for key := range f.byAddr {
		f.recentLocked(key, now)
	}
	f.swept = now
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// sameToken compares in constant time (over hashes, so the length of the
// token is not told either).
func sameToken(got, want string) bool {
	if want == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// current is the request's session, nil when it has none.
func (c *Console) current(r *http.Request) (*session, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil || c.sessions == nil {
		return nil, nil
	}
	return c.sessions.get(r.Context(), ck.Value, c.tokenFor)
}

// tokenFor is the token that opens a session of that role on this host.
func (c *Console) tokenFor(readOnly bool) string {
	if readOnly {
		return c.o.ReadOnlyToken
	}
	return c.o.Token
}

// session wraps a page that needs a logged-in browser; others are sent to
// the login form.
func (c *Console) session(next func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, err := c.current(r)
		if err != nil {
			c.log.Warn("console: read session", "err", err)
			c.message(w, r, nil, http.StatusServiceUnavailable, "Sessions unavailable", "The host could not reach NATS, where sessions are kept. Try again in a moment.")
			return
		}
		if ss == nil {
			if r.Method == http.MethodGet && r.Header.Get("Accept") != "text/event-stream" {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.message(w, r, nil, http.StatusUnauthorized, "Logged out", "Log in again to go on.")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, c.o.MaxUpload+1<<20)
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(5 * time.Minute))
		}
		if r.Method != http.MethodGet && !c.sameOrigin(r) {
			c.message(w, r, ss, http.StatusForbidden, "Refused", "The request did not come from the console's own pages.")
			return
		}
		next(w, r, ss)
	}
}

// action wraps a state-changing request: a session that may act, and the
// session's CSRF token in the form.
func (c *Console) action(next func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return c.session(func(w http.ResponseWriter, r *http.Request, ss *session) {
		if ss.readOnly {
			c.message(w, r, ss, http.StatusForbidden, "Read-only", "This session was opened with the read-only token: it can look, not act.")
			return
		}
		if !sameToken(r.PostFormValue("csrf"), ss.csrf) {
			c.message(w, r, ss, http.StatusForbidden, "Refused", "The form has expired or did not come from the console. Open the page again and retry.")
			return
		}
		next(w, r, ss)
	})
}

// sameOrigin checks where a POST came from, on top of SameSite=Strict
// and the CSRF token: by Sec-Fetch-Site where the browser sends it, else
// by Origin. (The pages send no Referer, so a browser's Origin may be
// "null"; the CSRF token decides then.)
func (c *Console) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	from := r.Header.Get("Origin")
	if from == "" || from == "null" {
		return true
	}
	u, err := url.Parse(from)
	return err == nil && u.Host == r.Host
}

type loginData struct {
	Next, Error string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if ss, _ := c.current(r); ss != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.render(w, r, nil, http.StatusOK, "login", "Log in", loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !c.sameOrigin(r) {
		c.message(w, r, nil, http.StatusForbidden, "Refused", "The request did not come from the console's own pages.")
		return
	}
	// Counted per client, as the proxy in front passes it on: by the
	// connection's address alone, every login through the proxy would
	// wait for one client's wrong tokens. And per connection address,
	// with a higher limit, since a client on the network that the
	// forwarded address is believed from may name any address it likes.
	addr, conn := ratelimit.ClientKey(r), clientAddr(r)
	if c.failures.tooMany(addr, conn) {
		w.Header().Set("Retry-After", "60")
		c.render(w, r, nil, http.StatusTooManyRequests, "login", "Log in", loginData{Next: safeNext(r.PostFormValue("next")), Error: "Too many failed attempts: wait a minute."})
		return
	}
	token := r.PostFormValue("token")
	var readOnly bool
	switch {
	case sameToken(token, c.o.Token):
	case sameToken(token, c.o.ReadOnlyToken):
		readOnly = true
	default:
		c.failures.add(addr, conn)
		c.log.Warn("console: failed login", "addr", addr, "conn", conn)
		c.render(w, r, nil, http.StatusUnauthorized, "login", "Log in", loginData{Next: safeNext(r.PostFormValue("next")), Error: "That token is not right."})
		return
	}
	if c.sessions == nil {
		c.message(w, r, nil, http.StatusServiceUnavailable, "Cannot log in", "This host keeps no sessions.")
		return
	}
	ss, err := c.sessions.create(r.Context(), readOnly, c.tokenFor(readOnly))
	if err != nil {
		c.log.Warn("console: create session", "err", err)
		c.message(w, r, nil, http.StatusServiceUnavailable, "Cannot log in", "The host could not store the session in NATS. Try again in a moment.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: ss.id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: c.o.SecureCookies || r.TLS != nil, MaxAge: int(sessionTTL / time.Second),
	})
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, ss *session) {
	if !sameToken(r.PostFormValue("csrf"), ss.csrf) {
		c.message(w, r, ss, http.StatusForbidden, "Refused", "The form has expired. Open the page again and retry.")
		return
	}
	if err := c.sessions.drop(r.Context(), ss.id); err != nil {
		c.fail(w, r, ss, "log out", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: c.o.SecureCookies || r.TLS != nil, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a redirect after login on the console.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if next == "" || err != nil || u.IsAbs() || u.Host != "" || len(next) < 1 || next[0] != '/' || (len(next) > 1 && (next[1] == '/' || next[1] == '\\')) {
		return "/runs"
	}
	return next
}
