package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// cookieName is the session cookie. Its value is a random id; what it
// stands for lives in the host's memory only.
const cookieName = "paperflow_console"

// sessionTTL ends a session unused for this long.
const sessionTTL = 12 * time.Hour

// session is one logged-in browser.
type session struct {
	id       string
	csrf     string
	readOnly bool
	seen     time.Time
}

type sessions struct {
	mu     sync.Mutex
	byID   map[string]*session
	failed map[string][]time.Time // failed logins by client address
}

func newSessions() *sessions {
	return &sessions{byID: map[string]*session{}, failed: map[string][]time.Time{}}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *sessions) create(readOnly bool) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for id, ss := range s.byID {
		if now.Sub(ss.seen) > sessionTTL {
			delete(s.byID, id)
		}
	}
	ss := &session{id: randomHex(32), csrf: randomHex(32), readOnly: readOnly, seen: now}
	s.byID[ss.id] = ss
	return ss
}

func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byID[id]
	if ss == nil || time.Since(ss.seen) > sessionTTL {
		delete(s.byID, id)
		return nil
	}
	ss.seen = time.Now()
	return ss
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

// maxFailedLogins in loginWindow from one address makes it wait.
const (
	maxFailedLogins = 10
	loginWindow     = time.Minute
)

func (s *sessions) tooManyFailures(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	recent := s.failed[addr][:0]
	for _, t := range s.failed[addr] {
		if time.Since(t) < loginWindow {
			recent = append(recent, t)
		}
	}
	s.failed[addr] = recent
	return len(recent) >= maxFailedLogins
}

func (s *sessions) fail(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed[addr] = append(s.failed[addr], time.Now())
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

func (c *Console) current(r *http.Request) *session {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	return c.sessions.get(ck.Value)
}

// session wraps a page that needs a logged-in browser; others are sent to
// the login form.
func (c *Console) session(next func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := c.current(r)
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
	if c.current(r) != nil {
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
	addr := clientAddr(r)
	if c.sessions.tooManyFailures(addr) {
		w.Header().Set("Retry-After", "60")
		c.render(w, r, nil, http.StatusTooManyRequests, "login", "Log in", loginData{Next: safeNext(r.PostFormValue("next")), Error: "Too many failed attempts: wait a minute."})
		return
	}
	token := r.PostFormValue("token")
	var ss *session
	switch {
	case sameToken(token, c.o.Token):
		ss = c.sessions.create(false)
	case sameToken(token, c.o.ReadOnlyToken):
		ss = c.sessions.create(true)
	default:
		c.sessions.fail(addr)
		c.log.Warn("console: failed login", "addr", addr)
		c.render(w, r, nil, http.StatusUnauthorized, "login", "Log in", loginData{Next: safeNext(r.PostFormValue("next")), Error: "That token is not right."})
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
	c.sessions.drop(ss.id)
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
