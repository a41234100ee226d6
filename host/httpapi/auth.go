package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// requireToken lets a request through to next only when it carries the API
// token as Authorization: Bearer <token>. Every API route is wrapped in it,
// so the token is checked one way everywhere.
func requireToken(want string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if problem := checkToken(r.Header.Get("Authorization"), want); problem != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="paperflow"`)
			writeError(w, http.StatusUnauthorized, problem)
			return
		}
		next(w, r)
	}
}

// checkToken returns what is wrong with an Authorization header that should
// carry want, or "" when it does.
func checkToken(header, want string) string {
	got, ok := bearerToken(header)
	switch {
	case want == "":
		return "this host has no API token, so the API refuses every call: start it with --api-token or PAPERFLOW_API_TOKEN"
	case !ok:
		return "missing API token: send Authorization: Bearer <PAPERFLOW_API_TOKEN>"
	case !sameToken(got, want):
		return "wrong API token: send the one the host was started with (--api-token or PAPERFLOW_API_TOKEN)"
	}
	return ""
}

// bearerToken returns the token of an Authorization header of the Bearer
// scheme. As RFC 9110 (11.4) and RFC 6750 (2.1) have it, the scheme is
// matched without regard to case and is followed by one or more spaces and
// a single token; a header without the scheme is not a bearer token.
func bearerToken(header string) (string, bool) {
	scheme, rest, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}

// sameToken compares in time independent of both the tokens' contents and
// their lengths: the hashes are of equal length whatever was sent.
func sameToken(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
