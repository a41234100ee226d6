package mail

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk/retries"
)

// Security is how the transport protects its connection to the server.
type Security string

const (
	// StartTLS upgrades a plain connection with STARTTLS and refuses a
	// server that does not offer it (the default for smtp://).
	StartTLS Security = "starttls"
	// ImplicitTLS speaks TLS from the first byte (smtps://, port 465).
	ImplicitTLS Security = "implicit"
	// Opportunistic uses STARTTLS when the server offers it, else plain.
	Opportunistic Security = "opportunistic"
	// NoTLS sends in the clear: only for a relay on a trusted network.
	NoTLS Security = "none"
)

// DefaultMaxMessageBytes bounds a whole message, attachments included,
// when no other limit is set: 25 MiB, what common mail providers accept.
const DefaultMaxMessageBytes = 25 << 20

// SMTPConfig configures an SMTP transport. ParseSMTPURL makes one from
// paperflow's --smtp URL; zero fields take the defaults shown.
type SMTPConfig struct {
	// Host and Port of the server (Port default: 587, or 465 for implicit
	// TLS, or 25 without TLS).
	Host string
	Port int
	// Username and Password, when Username is set, log in with SMTP AUTH.
	Username, Password string
	// Security default: StartTLS.
	Security Security
	// Auth picks the SMTP AUTH mechanism: "" (the strongest the server
	// offers), "plain", "login", "cram-md5", "scram-sha-1",
	// "scram-sha-256" or "xoauth2".
	Auth string
	// From is the From address of messages whose block sets none; the
	// host passes it to the engine (engine.Options.MailFrom).
	From string
	// Helo is the name sent in EHLO (default: this machine's host name).
	Helo string
	// Timeout bounds connecting and each SMTP command (default 15s).
	Timeout time.Duration
	// InsecureSkipVerify accepts any server certificate: tests only.
	InsecureSkipVerify bool
	// RootCAs verifies the server certificate (nil: the system's roots).
	RootCAs *x509.CertPool
	// MaxMessageBytes refuses larger messages before sending (default
	// DefaultMaxMessageBytes); a smaller SIZE the server announces wins.
	MaxMessageBytes int64
	// MaxConns bounds the connections open at once (default 4); idle ones
	// are kept and reused for the next messages.
	MaxConns int
	// IdleTimeout closes a connection left unused this long rather than
	// reusing it, ahead of the server's own idle timeout (default 30s).
	IdleTimeout time.Duration
	// Retry is how a message is retried after a temporary failure.
	Retry RetryPolicy
	// Log receives retries and dropped connections (default: none).
	Log *slog.Logger
}

// RetryPolicy says how often and how soon a message is tried again after
// a temporary failure (a 4xx reply, a dropped connection): the settings of
// DefaultRetry an SMTP URL may change. Longer outages are the business of
// the engine, which retries the item later.
type RetryPolicy struct {
	// Attempts is the number of tries in all, the first included
	// (default 3; 1 disables retries).
	Attempts int
	// Initial is the first delay (default 200ms).
	Initial time.Duration
	// Max caps a delay (default 2s).
	Max time.Duration
}

// DefaultRetry is how a message is retried when the SMTP URL does not say:
// three tries, delays doubling from 200ms up to 2s with 20% jitter. A
// permanent reply (5xx) is never tried again.
var DefaultRetry = retries.Policy{Initial: 200 * time.Millisecond, Multiplier: 2, Cap: 2 * time.Second, MaxAttempts: 3, JitterPercent: 20}

// policy is DefaultRetry with r's settings.
func (r RetryPolicy) policy() retries.Policy {
	p := DefaultRetry
	p.MaxAttempts, p.Initial, p.Cap = r.Attempts, r.Initial, r.Max
	return p
}

func (c *SMTPConfig) setDefaults() {
	if c.Security == "" {
		c.Security = StartTLS
	}
	if c.Port == 0 {
		switch c.Security {
		case ImplicitTLS:
			c.Port = 465
		case NoTLS:
			c.Port = 25
		default:
			c.Port = 587
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = 15 * time.Second
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 4
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.Retry.Attempts <= 0 {
		c.Retry.Attempts = DefaultRetry.MaxAttempts
	}
	if c.Retry.Initial <= 0 {
		c.Retry.Initial = DefaultRetry.Initial
	}
	if c.Retry.Max <= 0 {
		c.Retry.Max = DefaultRetry.Cap
	}
}

// smtpQuery lists the query parameters of an SMTP URL, for ParseSMTPURL
// and its error messages.
var smtpQuery = map[string]func(c *SMTPConfig, v string) error{
	"tls": func(c *SMTPConfig, v string) error {
		switch s := Security(strings.ToLower(v)); s {
		case StartTLS, ImplicitTLS, Opportunistic, NoTLS:
			c.Security = s
			return nil
		}
		return fmt.Errorf("want starttls, implicit, opportunistic or none")
	},
	"from": func(c *SMTPConfig, v string) error {
		if strings.ContainsAny(v, "\r\n") {
			return errors.New("contains a line break")
		}
		if _, err := mail.ParseAddress(v); err != nil {
			return fmt.Errorf("not an address: %v", err)
		}
		c.From = v
		return nil
	},
	"timeout": func(c *SMTPConfig, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("want a duration such as 30s")
		}
		c.Timeout = d
		return nil
	},
	"insecure_skip_verify": func(c *SMTPConfig, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want 1 or 0")
		}
		c.InsecureSkipVerify = b
		return nil
	},
	"auth": func(c *SMTPConfig, v string) error {
		if _, ok := authTypes[strings.ToLower(v)]; !ok {
			return fmt.Errorf("want one of %s", strings.Join(sortedKeys(authTypes), ", "))
		}
		c.Auth = strings.ToLower(v)
		return nil
	},
	"helo": func(c *SMTPConfig, v string) error {
		if v == "" || strings.ContainsAny(v, " \r\n") {
			return errors.New("want a host name")
		}
		c.Helo = v
		return nil
	},
	"max_message_bytes": func(c *SMTPConfig, v string) (err error) {
		c.MaxMessageBytes, err = parseSize(v)
		return err
	},
	"max_conns": func(c *SMTPConfig, v string) (err error) {
		c.MaxConns, err = number(v, 1, 100)
		return err
	},
	"attempts": func(c *SMTPConfig, v string) (err error) {
		c.Retry.Attempts, err = number(v, 1, 20)
		return err
	},
}

// ParseSMTPURL reads an SMTP URL:
//
//	smtp://user:pass@host:587?tls=starttls    STARTTLS, required (the default)
//	smtp://host:25?tls=none                   no TLS: a relay on a trusted network
//	smtps://user:pass@host                    implicit TLS, port 465 (also ?tls=implicit)
//
// Query parameters: tls (starttls, implicit, opportunistic, none), from
// (the default From address), timeout (e.g. 30s), auth (plain, login,
// cram-md5, scram-sha-1, scram-sha-256, xoauth2; default: the strongest
// offered), helo, max_message_bytes (e.g. 10MiB), max_conns, attempts,
// insecure_skip_verify (tests only). Special characters in the user name
// or password are percent-encoded (%40 for @). Errors never repeat the
// password.
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	c, err := parseSMTPURL(raw)
	if err != nil {
		return SMTPConfig{}, err // no half-filled config holding a password
	}
	return c, nil
}

func parseSMTPURL(raw string) (SMTPConfig, error) {
	var c SMTPConfig
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password included
		}
		// The rest may still quote part of it: a "/" in a password ends
		// the host, so `invalid port ":<start of password>"`.
		return c, fmt.Errorf("SMTP URL %s: %s (percent-encode special characters in the user name and password: %%2F for /, %%23 for #, %%3F for ?, %%40 for @, %%25 for %%)",
			RedactURL(raw), quotedInput.ReplaceAllString(err.Error(), "…"))
	}
	switch u.Scheme {
	case "smtp":
	case "smtps":
		c.Security = ImplicitTLS
	default:
		return c, fmt.Errorf("SMTP URL %s: scheme %q: want smtp:// or smtps://", RedactURL(raw), u.Scheme)
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return c, fmt.Errorf("SMTP URL %s: no host", RedactURL(raw))
	}
	if p := u.Port(); p != "" {
		if c.Port, err = number(p, 1, 65535); err != nil {
			return c, fmt.Errorf("SMTP URL %s: port %q: %v", RedactURL(raw), p, err)
		}
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	if u.Path != "" && u.Path != "/" {
		return c, fmt.Errorf("SMTP URL %s: unexpected path %q", RedactURL(raw), u.Path)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return c, fmt.Errorf("SMTP URL %s: query: %v", RedactURL(raw), err)
	}
	for _, k := range sortedKeys(q) {
		set, ok := smtpQuery[k]
		if !ok {
			return c, fmt.Errorf("SMTP URL %s: unknown parameter %q; known: %s", RedactURL(raw), k, strings.Join(sortedKeys(smtpQuery), ", "))
		}
		v := q.Get(k)
		if err := set(&c, v); err != nil {
			return c, fmt.Errorf("SMTP URL %s: %s=%s: %v", RedactURL(raw), k, v, err)
		}
	}
	if u.Scheme == "smtps" && c.Security != ImplicitTLS {
		return c, fmt.Errorf("SMTP URL %s: smtps:// is implicit TLS; use smtp:// with tls=%s", RedactURL(raw), c.Security)
	}
	c.setDefaults()
	return c, nil
}

// quotedInput matches what a net/url error quotes of its input.
var quotedInput = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// RedactURL returns the URL with its password replaced, for logs and
// errors, and the values of unknown query parameters too (a password put
// there by mistake).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Cannot tell the password from the rest: show only the scheme.
		scheme, _, ok := strings.Cut(raw, "://")
		if !ok || strings.ContainsAny(scheme, "@:/") {
			scheme = "smtp"
		}
		return scheme + "://…"
	}
	if q, err := url.ParseQuery(u.RawQuery); err != nil {
		u.RawQuery = "…"
	} else {
		hidden := false
		for k := range q {
			if _, known := smtpQuery[k]; !known {
				q[k], hidden = []string{"xxxxx"}, true
			}
		}
		if hidden {
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// String prints the configuration as %+v would, with the password
// replaced, so that a config in a log line or an error does not show it.
func (c SMTPConfig) String() string {
	type fields SMTPConfig // without methods: no recursion
	f := fields(c)
	if f.Password != "" {
		f.Password = "xxxxx"
	}
	return fmt.Sprintf("%+v", f)
}

// GoString is String, so %#v does not print the password either.
func (c SMTPConfig) GoString() string { return c.String() }

// LogValue logs the configuration without its password.
func (c SMTPConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", c.Host), slog.Int("port", c.Port), slog.String("user", c.Username),
		slog.Bool("password", c.Password != ""), slog.String("tls", string(c.Security)))
}

// parseSize reads a byte count: 1048576, 512KiB, 10MiB, 10MB.
func parseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a size such as 26214400, 512KiB or 25MiB")
	}
	return n * mult, nil
}

// number reads a whole number from lo to hi.
func number(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want a number from %d to %d", lo, hi)
	}
	return n, nil
}

// sortedKeys lists a table's keys in order, for messages that name them.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
