package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestSignerAddress: the address a signature is recorded with (the
// request, its audit trail, the sealed PDF) is the one the operator's
// proxies saw. X-Forwarded-For is believed only from a proxy's address
// (loopback, private, link-local), walked back from the connection; the
// entries a signer writes into it themselves, or sends straight to a
// public host, are not.
func TestSignerAddress(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, remote string
		forwarded    []string
		ip           string
	}{
		{"straight from the signer", "198.51.100.4:5000", nil, "198.51.100.4"},
		{"straight, naming another address", "198.51.100.4:5000", []string{"203.0.113.7"}, "198.51.100.4"},
		{"through the proxy", "127.0.0.1:5000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"through the proxy, a forged entry before", "127.0.0.1:5000", []string{"192.0.2.66, 203.0.113.7"}, "203.0.113.7"},
		{"through two proxies, two headers", "10.0.0.1:5000", []string{"192.0.2.66", "203.0.113.7, 10.0.0.2"}, "203.0.113.7"},
		{"through the proxy, garbage forwarded", "10.0.0.1:5000", []string{"not-an-address"}, "10.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, twoSigners)
			link := f.links(f.process(f.item("1", map[string]any{"Email": "ada@example.com"}, resolved))[0])[0]
			form := url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"Ada Lovelace"}, "submission": {f.submission(link)}}
			u, _ := url.Parse(f.local(link))
			r := httptest.NewRequest(http.MethodPost, u.Path, strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.RemoteAddr = c.remote
			for _, v := range c.forwarded {
				r.Header.Add("X-Forwarded-For", v)
			}
			w := httptest.NewRecorder()
			f.srv.Config.Handler.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("sign: %d\n%s", w.Code, w.Body)
			}
			rc := f.request().Recipients[0]
			if rc.IP != c.ip || rc.RemoteAddr != strings.Split(c.remote, ":")[0] {
				t.Errorf("connection %s, X-Forwarded-For %q: recorded ip %q (connection %q), want %q", c.remote, c.forwarded, rc.IP, rc.RemoteAddr, c.ip)
			}
			signed := ""
			for _, e := range f.request().Trail {
				if strings.HasPrefix(e.What, "Signed by ") {
					signed = e.What
				}
			}
			if !strings.HasSuffix(signed, " from "+c.ip) {
				t.Errorf("audit trail: %q, want the signature from %s", signed, c.ip)
			}
		})
	}
}
