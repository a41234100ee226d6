package delivery_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/delivery"
)

const storedToken = "Bearer stored-token-0123456789"

// TestSubscriptionHeaderValues: a header value a delivery could not send
// (a line break or another control character) and a name that is not an
// HTTP token are refused when saved, naming the header, never its value.
func TestSubscriptionHeaderValues(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	ctx := context.Background()
	store, err := delivery.OpenSubscriptions(ctx, b.JS, 1, loopback)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := store.Create(ctx, delivery.SubscriptionInput{URL: ptr("https://example.com/hook")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		headers map[string]string
		want    string // "" accepted
	}{
		{"plain", map[string]string{"X-Team": "billing\tteam"}, ""},
		{"lone CR", map[string]string{"X-Team": "secret-a\rb"}, "X-Team: its value contains a line break"},
		{"lone LF", map[string]string{"X-Team": "secret-a\nb"}, "X-Team: its value contains a line break"},
		{"NUL", map[string]string{"X-Team": "secret-a\x00b"}, "X-Team: its value contains a control character"},
		{"DEL", map[string]string{"X-Team": "secret-a\x7fb"}, "X-Team: its value contains a control character"},
		{"escape", map[string]string{"X-Team": "secret-\x1b[0m"}, "X-Team: its value contains a control character"},
		{"space in name", map[string]string{"X Team": "v"}, `"X Team" is not a valid header name`},
		{"colon in name", map[string]string{"X-Team:": "v"}, `"X-Team:" is not a valid header name`},
		{"non-ASCII name", map[string]string{"X-Tëam": "v"}, `"X-Tëam" is not a valid header name`},
		{"empty name", map[string]string{"": "v"}, `"" is not a valid header name`},
		{"same name twice", map[string]string{"x-team": "a", "X-Team": "b"}, "are the same header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := delivery.SubscriptionInput{URL: ptr("https://example.com/" + strings.ReplaceAll(c.name, " ", "-")), Headers: c.headers}
			_, createErr := store.Create(ctx, in)
			_, updateErr := store.Update(ctx, sub.ID, delivery.SubscriptionInput{Headers: c.headers})
			for what, err := range map[string]error{"create": createErr, "update": updateErr} {
				if c.want == "" {
					if err != nil {
						t.Errorf("%s: %v", what, err)
					}
					continue
				}
				var inv *delivery.InvalidError
				if !errors.As(err, &inv) || inv.Field != "headers" || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: got %v, want a headers error with %q", what, err, c.want)
				}
				if err != nil && strings.Contains(err.Error(), "secret-") {
					t.Errorf("%s: the error shows the value: %v", what, err)
				}
			}
		})
	}
}

// TestSubscriptionURLHostChange: stored header values go to another host
// only when the change gives them again.
func TestSubscriptionURLHostChange(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	ctx := context.Background()
	store, err := delivery.OpenSubscriptions(ctx, b.JS, 1, loopback)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		url     string
		headers map[string]string // nil: left out
		refused bool
	}{
		{"same origin, other path", "https://example.com/other?x=1", nil, false},
		{"same origin, default port written", "https://EXAMPLE.com:443/hook", nil, false},
		{"other host, headers kept", "https://attacker.example/hook", nil, true},
		{"other port, headers kept", "https://example.com:8443/hook", nil, true},
		{"other scheme, headers kept", "http://example.com/hook", nil, true},
		{"other host, stored value sent back", "https://attacker.example/hook", map[string]string{"Authorization": storedToken, "X-Team": "new"}, true},
		{"other host, stored value sent back in other case", "https://attacker.example/hook", map[string]string{"authorization": storedToken}, true},
		{"other host, new values", "https://new.example/hook", map[string]string{"Authorization": "Bearer new", "X-Team": "new"}, false},
		{"other host, headers removed", "https://new.example/hook", map[string]string{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			sub, err := store.Create(ctx, delivery.SubscriptionInput{URL: ptr("https://example.com/hook"), Headers: map[string]string{"Authorization": storedToken, "X-Team": "billing"}, AllowDuplicate: true})
			if err != nil {
				t.Fatal(err)
			}
			up, err := store.Update(ctx, sub.ID, delivery.SubscriptionInput{URL: ptr(c.url), Headers: c.headers})
			var inv *delivery.InvalidError
			switch {
			case c.refused && (!errors.As(err, &inv) || inv.Field != "headers" || !strings.Contains(err.Error(), "the URL's host changes: give the headers' values again, or remove them")):
				t.Errorf("got %v, want the change refused", err)
			case c.refused && strings.Contains(err.Error(), "stored-token"):
				t.Errorf("the error shows the value: %v", err)
			case !c.refused && err != nil:
				t.Errorf("refused: %v", err)
			case !c.refused && up.URL != c.url:
				t.Errorf("url %q", up.URL)
			}
			if got, _ := store.Get(ctx, sub.ID); c.refused && (got.URL != "https://example.com/hook" || got.Headers["Authorization"] != storedToken) {
				t.Errorf("a refused change was stored: %s", got.URL)
			}
		})
	}
}

// TestSubscriptionNumericHosts: IPv4 addresses in short or numeric forms,
// which resolvers read as addresses, are refused when saved; the
// allow-list is respected as for the address in its usual form.
func TestSubscriptionNumericHosts(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	ctx := context.Background()
	store, err := delivery.OpenSubscriptions(ctx, b.JS, 1, loopback) // allows 127.0.0.1 only
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		url  string
		want string // "" accepted
	}{
		{"http://127.0.0.1:9/hook", ""},
		{"http://203.0.113.9/hook", ""},
		{"http://hooks.example.com/", ""},
		{"http://127.1/", "write it as 127.0.0.1"},
		{"http://2130706433/", "write it as 127.0.0.1"},
		{"http://0x7f000001/", "write it as 127.0.0.1"},
		{"http://0177.0.0.1/", "write it as 127.0.0.1"},
		{"http://127.0.0.1./", "write it as 127.0.0.1"},
		{"http://0/", "unspecified address 0.0.0.0"},
		{"http://10.1/", "private address 10.0.0.1"},
		{"http://3232235521/", "private address 192.168.0.1"},
		{"http://0xa9.0xfe.0xa9.0xfe/", "link-local address 169.254.169.254"},
		{"http://3405803785/", "write it as 203.0.113.9"},
		{"http://[::ffff:10.0.0.1]/", "private address 10.0.0.1"},
		{"http://[::ffff:a00:1]/", "private address 10.0.0.1"},
		{"http://[::ffff:127.0.0.1]:9/", ""}, // 127.0.0.1 is allowed
		{"http://localhost./", ""},
		{"http://LOCALHOST.:8080/", ""},
		{"http://256.1.1.1/", "not a valid IPv4 address"},
		{"http://1.2.3.4.5/", "not a valid IPv4 address"},
		{"http://4294967296/", "not a valid IPv4 address"},
		{"http://08.0.0.1/", "not a valid IPv4 address"},
	} {
		t.Run(c.url, func(t *testing.T) {
			_, err := store.Create(ctx, delivery.SubscriptionInput{URL: ptr(c.url), AllowDuplicate: true})
			if c.want == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			var inv *delivery.InvalidError
			if !errors.As(err, &inv) || inv.Field != "url" || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want a url error with %q", err, c.want)
			}
		})
	}
}
