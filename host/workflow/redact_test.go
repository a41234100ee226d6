package workflow

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

const (
	apiKey  = "sk_live_9f8e7d6c5b4a"
	smtpPw  = "p@ss/word#1?"
	longer  = "sk_live_9f8e7d6c5b4a-and-more" // holds apiKey
	tooWeak = "abc"
)

var redactSecrets = Secrets{"API_KEY": apiKey, "SMTP_PASSWORD": smtpPw, "LONGER": longer, "PIN": tooWeak}

// values are what must never show, in every form a text may carry them.
var values = []string{apiKey, smtpPw, url.QueryEscape(smtpPw), url.PathEscape(smtpPw), longer}

func leaked(text string) string {
	for _, v := range values {
		if strings.Contains(text, v) {
			return v
		}
	}
	return ""
}

func TestSecretsNeverPrintTheirValues(t *testing.T) {
	type holder struct {
		Name    string
		Secrets Secrets
	}
	var logged bytes.Buffer
	jsonLog := slog.New(slog.NewJSONHandler(&logged, nil))
	textLog := slog.New(slog.NewTextHandler(&logged, nil))
	for _, c := range []struct {
		name string
		text func() string
	}{
		{"%v", func() string { return fmt.Sprintf("%v", redactSecrets) }},
		{"%+v of a struct", func() string { return fmt.Sprintf("%+v", holder{"x", redactSecrets}) }},
		{"%#v", func() string { return fmt.Sprintf("%#v", redactSecrets) }},
		{"%s", func() string { return fmt.Sprintf("%s", redactSecrets) }},
		{"%q", func() string { return fmt.Sprintf("%q", redactSecrets) }},
		{"%x", func() string { return fmt.Sprintf("%x", redactSecrets) }},
		{"%d", func() string { return fmt.Sprintf("%d", redactSecrets) }},
		{"Sprint", func() string { return fmt.Sprint(redactSecrets) }},
		{"error wrapping", func() string { return fmt.Errorf("load: %v", redactSecrets).Error() }},
		{"json", func() string { b, _ := json.Marshal(holder{"x", redactSecrets}); return string(b) }},
		{"slog JSON", func() string { logged.Reset(); jsonLog.Info("m", "secrets", redactSecrets); return logged.String() }},
		{"slog text", func() string { logged.Reset(); textLog.Info("m", "secrets", redactSecrets); return logged.String() }},
	} {
		got := c.text()
		if v := leaked(got); v != "" {
			t.Errorf("%s shows %q: %s", c.name, v, got)
		}
		if !strings.Contains(got, "API_KEY") {
			t.Errorf("%s does not name the secrets: %s", c.name, got)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"token " + apiKey + " refused", "token [secret API_KEY] refused"},
		{"smtp://user:" + url.QueryEscape(smtpPw) + "@host", "smtp://user:[secret SMTP_PASSWORD]@host"},
		{`{"password":"` + smtpPw + `"}`, `{"password":"[secret SMTP_PASSWORD]"}`},
		{"key=" + longer, "key=[secret LONGER]"},
		{"pin abc stays, as do abcd and words", "pin abc stays, as do abcd and words"},
		{"", ""},
	} {
		if got := redactSecrets.Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := Secrets(nil).Redact("nothing " + apiKey); got != "nothing "+apiKey {
		t.Errorf("no secrets: %q", got)
	}
}

// TestRedactDerivedForms hides the forms a secret takes on the wire: in
// Basic credentials, base64-encoded, percent-encoded. What may stay are
// the characters a base64 secret shares with its neighbours.
func TestRedactDerivedForms(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	for _, c := range []struct {
		name, in string
		gone     []string
	}{
		{"Basic credentials", "Authorization: Basic " + b64([]byte("user:"+apiKey)), []string{b64([]byte("user:" + apiKey))[8:]}},
		{"Basic credentials, secret as user", "Basic " + b64([]byte(apiKey+":")), []string{b64([]byte(apiKey + ":"))[:20]}},
		{"base64", "key=" + b64([]byte(smtpPw)), []string{b64([]byte(smtpPw))}},
		{"base64 without padding", "key=" + base64.RawStdEncoding.EncodeToString([]byte(apiKey)), []string{base64.RawStdEncoding.EncodeToString([]byte(apiKey))}},
		{"base64 URL alphabet", "key=" + base64.URLEncoding.EncodeToString([]byte(smtpPw)), []string{base64.URLEncoding.EncodeToString([]byte(smtpPw))}},
		{"base64 URL alphabet without padding", "key=" + base64.RawURLEncoding.EncodeToString([]byte(smtpPw)), []string{base64.RawURLEncoding.EncodeToString([]byte(smtpPw))}},
		{"query escaping", "q=" + url.QueryEscape(smtpPw), []string{url.QueryEscape(smtpPw)}},
		{"path escaping", "/p/" + url.PathEscape(smtpPw), []string{url.PathEscape(smtpPw)}},
		{"URL user info", (&url.URL{Scheme: "https", User: url.UserPassword("u", smtpPw), Host: "h"}).String(), []string{"p%40ss"}},
	} {
		got := redactSecrets.Redact(c.in)
		for _, g := range append(c.gone, values...) {
			if strings.Contains(got, g) {
				t.Errorf("%s: Redact(%q) = %q still shows %q", c.name, c.in, got, g)
			}
		}
		if !strings.Contains(got, "[secret ") {
			t.Errorf("%s: Redact(%q) = %q names no secret", c.name, c.in, got)
		}
	}
	if got := Secrets(nil).Redact("nothing " + apiKey); got != "nothing "+apiKey {
		t.Errorf("no secrets: %q", got)
	}
}

// TestRedactHandler logs secrets every way a host line can carry them:
// the message, string attributes, errors, groups, WithAttrs, and the
// map-valued attributes of lines bridged from block processes (hclog JSON
// decoded into slog.Any).
func TestRedactHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(RedactHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), redactSecrets))
	type config struct{ URL, Token string }
	log.With("smtp", "smtp://u:"+smtpPw+"@h").WithGroup("block").Info("configure failed: with.url https://x/?key="+apiKey,
		"err", fmt.Errorf("wrapped: %w", errors.New("bad token "+apiKey)),
		"plain", "nothing secret", "count", 3,
		slog.Group("req", "header", "Bearer "+longer),
		"config", config{URL: "https://x", Token: apiKey},
		"plugin_line", map[string]any{"@message": "with: " + apiKey, "nested": []any{smtpPw}},
	)
	out := buf.String()
	if v := leaked(out); v != "" {
		t.Errorf("log shows %q:\n%s", v, out)
	}
	for _, want := range []string{`"count":3`, `"plain":"nothing secret"`, "[secret API_KEY]", "[secret LONGER]", "[secret SMTP_PASSWORD]"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON line: %v\n%s", err, out)
	}

	// Nothing to redact: the handler is left as it was.
	h := slog.NewTextHandler(&buf, nil)
	if RedactHandler(h, Secrets{"PIN": "1234"}) != slog.Handler(h) {
		t.Error("a handler was wrapped for secrets too short to redact")
	}
}
