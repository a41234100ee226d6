package mail_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/mail"
)

func TestParseSMTPURL(t *testing.T) {
	t.Parallel()
	good := []struct {
		url  string
		want mail.SMTPConfig
	}{
		{"smtp://mail.example.com", mail.SMTPConfig{Host: "mail.example.com", Port: 587, Security: mail.StartTLS}},
		{"smtp://user:pass@mail.example.com:2525?tls=starttls", mail.SMTPConfig{Host: "mail.example.com", Port: 2525, Username: "user", Password: "pass", Security: mail.StartTLS}},
		{"smtps://user:pass@mail.example.com", mail.SMTPConfig{Host: "mail.example.com", Port: 465, Username: "user", Password: "pass", Security: mail.ImplicitTLS}},
		{"smtp://mail.example.com?tls=implicit", mail.SMTPConfig{Host: "mail.example.com", Port: 465, Security: mail.ImplicitTLS}},
		{"smtp://127.0.0.1?tls=none", mail.SMTPConfig{Host: "127.0.0.1", Port: 25, Security: mail.NoTLS}},
		{"smtp://[::1]:1025?tls=opportunistic", mail.SMTPConfig{Host: "::1", Port: 1025, Security: mail.Opportunistic}},
		// A user name that is an address, and a password with reserved
		// characters, percent-encoded.
		{"smtp://ada%40example.com:p%40ss%3A%2Fword@mail.example.com", mail.SMTPConfig{Host: "mail.example.com", Port: 587, Username: "ada@example.com", Password: "p@ss:/word", Security: mail.StartTLS}},
		{"smtp://h?from=Billing%20%3Cbilling%40example.com%3E&timeout=30s&auth=login&helo=app.example.com&max_message_bytes=10MiB&max_conns=8&attempts=5&insecure_skip_verify=1",
			mail.SMTPConfig{Host: "h", Port: 587, Security: mail.StartTLS, From: "Billing <billing@example.com>", Timeout: 30 * time.Second, Auth: "login",
				Helo: "app.example.com", MaxMessageBytes: 10 << 20, MaxConns: 8, Retry: mail.RetryPolicy{Attempts: 5}, InsecureSkipVerify: true}},
	}
	for _, g := range good {
		got, err := mail.ParseSMTPURL(g.url)
		if err != nil {
			t.Errorf("%s: %v", g.url, err)
			continue
		}
		// Compare only what the case sets, besides the defaults below.
		w := g.want
		if w.Timeout == 0 {
			w.Timeout = 15 * time.Second
		}
		if w.MaxMessageBytes == 0 {
			w.MaxMessageBytes = mail.DefaultMaxMessageBytes
		}
		if w.MaxConns == 0 {
			w.MaxConns = 4
		}
		if w.Retry.Attempts == 0 {
			w.Retry.Attempts = 3
		}
		w.Retry.Initial, w.Retry.Max, w.IdleTimeout = got.Retry.Initial, got.Retry.Max, got.IdleTimeout
		if got != w {
			t.Errorf("%s:\n got %+v\nwant %+v", g.url, got, w)
		}
	}

	bad := []struct{ url, want string }{
		{"", "scheme"},
		{"http://user:hunter2@h", `scheme "http"`},
		{"smtp://user:hunter2@", "no host"},
		{"smtp://user:hunter2@h:0", "port"},
		{"smtp://user:hunter2@h?tls=bogus", "want starttls, implicit, opportunistic or none"},
		{"smtp://user:hunter2@h?from=not-an-address", "from=not-an-address"},
		{"smtp://user:hunter2@h?timeout=soon", "want a duration"},
		{"smtp://user:hunter2@h?auth=magic", "want one of"},
		{"smtp://user:hunter2@h?max_message_bytes=big", "want a size"},
		{"smtp://user:hunter2@h?tsl=none", `unknown parameter "tsl"`},
		{"smtps://user:hunter2@h?tls=none", "smtps:// is implicit TLS"},
		{"smtp://user:hunter2@h/path", "unexpected path"},
		{"smtp://user:hunter2%zz@h", "percent-encode"},
	}
	for _, b := range bad {
		_, err := mail.ParseSMTPURL(b.url)
		if err == nil {
			t.Errorf("%s: accepted", b.url)
			continue
		}
		if !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: error %q does not say %q", b.url, err, b.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error shows the password: %q", b.url, err)
		}
	}
}

// TestSMTPURLErrorsHideThePassword covers passwords that break the URL
// (an unencoded /, #, ? or %), where net/url's own message would quote
// part of them.
func TestSMTPURLErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"smtp://user:hunter2/x@mail.example.com:587",
		"smtp://user:hunter2#x@mail.example.com",
		"smtp://user:hunter2?x@mail.example.com",
		"smtp://user:hunter2%zz@mail.example.com",
		"smtp://user:hu%nter2@mail.example.com",
		"smtp://user:hunter2 x@mail.example.com",
		"smtp://user:hunter2@[::1",
		"smtp://user:hunter2@mail.example.com?password=hunter2",
		"smtp://user:hunter2@mail.example.com:99999?token=hunter2",
	} {
		_, err := mail.ParseSMTPURL(raw)
		if err == nil {
			t.Errorf("%s: accepted", raw)
			continue
		}
		for _, part := range []string{"hunter2", "hunt", "nter", "%zz", "%nt"} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("%s: the error shows %q: %v", raw, part, err)
			}
		}
		if !strings.Contains(err.Error(), "SMTP URL") {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

// TestSMTPConfigPrintsNoPassword: a parsed config that ends up in a log
// line or an error by mistake does not show the password.
func TestSMTPConfigPrintsNoPassword(t *testing.T) {
	t.Parallel()
	c, err := mail.ParseSMTPURL("smtp://ada:hunter2@mail.example.com:2525?from=billing%40example.com")
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("smtp", "config", c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("smtp", "config", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", &c), fmt.Errorf("dial %v", c).Error(), buf.String()} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("shows the password: %s", s)
		}
		if !strings.Contains(s, "mail.example.com") {
			t.Errorf("does not name the server: %s", s)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"smtp://u:secret@h:587?tls=none":      "smtp://u:xxxxx@h:587?tls=none",
		"smtps://h":                           "smtps://h",
		"smtp://u:sec%zzret@h":                "smtp://…",
		"smtp://u:secret@h?password=secret":   "smtp://u:xxxxx@h?password=xxxxx",
		"smtp://h?from=a%40example.com&tsl=1": "smtp://h?from=a%40example.com&tsl=xxxxx",
	} {
		if got := mail.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
