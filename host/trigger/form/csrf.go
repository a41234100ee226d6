package form

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/plugins/ratelimit"
)

// keyName is the HostKV entry of the key that signs the forms' CSRF
// cookies, shared by every host so a form opened on one host can be posted
// to another.
const keyName = "forms.csrf-key"

// cookieName is the CSRF cookie; it is sent only to /forms/.
const cookieName = "paperflow_form"

// tokenTTL is how long an opened form can be posted.
const tokenTTL = 24 * time.Hour

// LoadKey loads (or, on the first host, creates) the CSRF signing key in
// the host KV bucket. Unlike the documents' URL key, losing it costs
// little: forms open at that moment are posted once more.
func LoadKey(ctx context.Context, kv jetstream.KeyValue) ([]byte, error) {
	if e, err := kv.Get(ctx, keyName); err == nil {
		return e.Value(), nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("load the forms' CSRF key: %w", err)
	}
	key, err := bus.CreateSecret(ctx, kv, keyName)
	if err != nil {
		return nil, fmt.Errorf("create the forms' CSRF key: %w", err)
	}
	return key, nil
}

// csrf issues and checks the double-submit token of a form: a random token
// in the page's hidden field and the same token in a cookie signed with
// the shared key, so a page on another site can neither read the token nor
// forge the cookie.
type csrf struct {
	key []byte
	now func() time.Time
}

func (c csrf) mac(token string, issued int64) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("form-csrf\x00" + token + "\x00" + strconv.FormatInt(issued, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// token returns the request's valid cookie token, or issues a new one and
// sets its cookie.
func (c csrf) token(w http.ResponseWriter, r *http.Request) string {
	if tok, ok := c.cookieToken(r); ok {
		return tok
	}
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	tok := base64.RawURLEncoding.EncodeToString(raw)
	issued := c.now().Unix()
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: tok + "." + strconv.FormatInt(issued, 10) + "." + c.mac(tok, issued),
		Path: "/forms/", HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode,
	})
	return tok
}

// cookieToken reads the token of a cookie this host's cluster signed and
// that has not expired.
func (c csrf) cookieToken(r *http.Request) (string, bool) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return "", false
	}
	parts := strings.Split(ck.Value, ".")
	if len(parts) != 3 || parts[0] == "" {
		return "", false
	}
	issued, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || c.now().Sub(time.Unix(issued, 0)) > tokenTTL {
		return "", false
	}
	if !hmac.Equal([]byte(parts[2]), []byte(c.mac(parts[0], issued))) {
		return "", false
	}
	return parts[0], true
}

// check says whether the posted token matches the request's signed cookie.
func (c csrf) check(r *http.Request, posted string) bool {
	tok, ok := c.cookieToken(r)
	return ok && posted != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(posted)) == 1
}

// secure says whether the page was reached over HTTPS, directly or, as
// a proxy on the operator's side says, through it.
func secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return ratelimit.FromProxy(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
