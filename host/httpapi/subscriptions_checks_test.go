package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSubscriptionChecksThroughAPI: what the store refuses when a
// subscription is saved (header values that could not be sent, stored
// header values sent to another host, IPv4 addresses in numeric forms)
// is answered 400 with the field and a message naming the header, never
// its value.
func TestSubscriptionChecksThroughAPI(t *testing.T) {
	t.Parallel()
	a := newAPI(t, token)
	code, created := a.call(t, "POST", "/public/webhook/subscribe", bearer, `{"url":"https://example.com/hook","headers":{"Authorization":"Bearer stored-token-0123"}}`)
	if code != 201 && code != 200 {
		t.Fatalf("subscribe: %d %v", code, created)
	}
	id := created["subscriptionId"].(string)
	body := func(v map[string]any) string { raw, _ := json.Marshal(v); return string(raw) }
	for _, c := range []struct {
		name, method, path string
		body               map[string]any
		field, want        string // "" accepted
	}{
		{"create: CR in a value", "POST", "/public/webhook/subscribe", map[string]any{"url": "https://example.com/a", "headers": map[string]string{"X-Team": "secret-a\rb"}}, "headers", "X-Team: its value contains a line break"},
		{"update: control character in a value", "POST", "/public/webhook/subscription/" + id, map[string]any{"headers": map[string]string{"X-Team": "secret-\x01"}}, "headers", "X-Team: its value contains a control character"},
		{"update: name not a token", "POST", "/public/webhook/subscription/" + id, map[string]any{"headers": map[string]string{"X Team": "v"}}, "headers", `"X Team" is not a valid header name`},
		{"update: other host keeping headers", "POST", "/public/webhook/subscription/" + id, map[string]any{"url": "https://attacker.example/"}, "headers", "the URL's host changes: give the headers' values again, or remove them"},
		{"update: other host sending the stored value back", "POST", "/public/webhook/subscription/" + id, map[string]any{"url": "https://attacker.example/", "headers": map[string]string{"Authorization": "Bearer stored-token-0123"}}, "headers", "the URL's host changes"},
		{"create: short IPv4 form", "POST", "/public/webhook/subscribe", map[string]any{"url": "http://127.1/"}, "url", "write it as 127.0.0.1"},
		{"create: decimal IPv4 form", "POST", "/public/webhook/subscribe", map[string]any{"url": "http://167772161/"}, "url", "private address 10.0.0.1"},
		{"create: zero", "POST", "/public/webhook/subscribe", map[string]any{"url": "http://0/"}, "url", "unspecified address 0.0.0.0"},
		{"create: IPv4-mapped IPv6", "POST", "/public/webhook/subscribe", map[string]any{"url": "http://[::ffff:a00:1]/"}, "url", "private address 10.0.0.1"},
		{"update: same host, headers kept", "POST", "/public/webhook/subscription/" + id, map[string]any{"url": "https://example.com/other"}, "", ""},
		{"update: other host, new values", "POST", "/public/webhook/subscription/" + id, map[string]any{"url": "https://new.example/", "headers": map[string]string{"Authorization": "Bearer new"}}, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out := a.call(t, c.method, c.path, bearer, body(c.body))
			if c.want == "" {
				if code != 200 && code != 201 {
					t.Errorf("%d %v", code, out)
				}
				return
			}
			msg, _ := out["error"].(string)
			if code != 400 || out["field"] != c.field || !strings.Contains(msg, c.want) {
				t.Errorf("%d %v, want 400 on %s with %q", code, out, c.field, c.want)
			}
			if strings.Contains(msg, "secret-") || strings.Contains(msg, "stored-token") {
				t.Errorf("the answer shows a header value: %s", msg)
			}
		})
	}
}
