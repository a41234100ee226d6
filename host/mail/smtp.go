package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/paperflow/paperflow/plugins/sdk/retries"
)

// NewTransport returns the transport for an SMTP URL (see ParseSMTPURL).
// An empty URL is an error: without a server, mail goes to an Outbox.
// The caller closes the transport (it is an io.Closer) when done.
func NewTransport(smtpURL string) (Transport, error) {
	if strings.TrimSpace(smtpURL) == "" {
		return nil, errors.New("no SMTP URL: set --smtp (PAPERFLOW_SMTP_URL), or use the outbox")
	}
	cfg, err := ParseSMTPURL(smtpURL)
	if err != nil {
		return nil, err
	}
	return NewSMTP(cfg)
}

// SMTP sends messages to an SMTP server. It keeps up to MaxConns
// connections open and reuses them from one message to the next; a
// connection the server dropped while idle is replaced at once, and a
// message that meets a temporary failure is tried again with backoff.
//
// It sends the message bytes exactly as built, so the Message-ID the host
// reports is the one the server receives; the envelope (MAIL FROM, RCPT
// TO) comes from Built, so Bcc recipients appear in no header.
type SMTP struct {
	cfg    SMTPConfig
	server string // host:port, for errors
	dialer *gomail.Client
	slots  chan struct{} // one per open or opening connection

	mu     sync.Mutex
	idle   []*smtpConn // most recently used last
	closed bool
}

var _ Transport = (*SMTP)(nil)

// smtpConn is one open connection.
type smtpConn struct {
	c        *smtp.Client
	lastUsed time.Time
	maxSize  int64 // SIZE the server announced; 0 when none
}

var authTypes = map[string]gomail.SMTPAuthType{
	"":              gomail.SMTPAuthAutoDiscover,
	"auto":          gomail.SMTPAuthAutoDiscover,
	"plain":         gomail.SMTPAuthPlain,
	"login":         gomail.SMTPAuthLogin,
	"cram-md5":      gomail.SMTPAuthCramMD5,
	"scram-sha-1":   gomail.SMTPAuthSCRAMSHA1,
	"scram-sha-256": gomail.SMTPAuthSCRAMSHA256,
	"xoauth2":       gomail.SMTPAuthXOAUTH2,
}

// NewSMTP prepares a transport; it connects on the first Send.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	cfg.setDefaults()
	if cfg.Host == "" {
		return nil, errors.New("smtp: no host")
	}
	if cfg.From != "" {
		if _, err := mail.ParseAddress(cfg.From); err != nil || strings.ContainsAny(cfg.From, "\r\n") {
			return nil, fmt.Errorf("smtp: from %q is not an address", cfg.From)
		}
	}
	auth, ok := authTypes[cfg.Auth]
	if !ok {
		return nil, fmt.Errorf("smtp: unknown auth %q; want one of %s", cfg.Auth, strings.Join(sortedKeys(authTypes), ", "))
	}
	tlsCfg := &tls.Config{
		ServerName:         cfg.Host,
		RootCAs:            cfg.RootCAs,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // documented as tests only
		MinVersion:         tls.VersionTLS12,
	}
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(cfg.Timeout), gomail.WithTLSConfig(tlsCfg)}
	switch cfg.Security {
	case StartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case Opportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case NoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("smtp: unknown security %q", cfg.Security)
	}
	if cfg.Helo != "" {
		opts = append(opts, gomail.WithHELO(cfg.Helo))
	}
	if cfg.Username != "" {
		opts = append(opts, gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password), gomail.WithSMTPAuth(auth))
	}
	dialer, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp %s: %w", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), err)
	}
	return &SMTP{
		cfg: cfg, server: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), dialer: dialer,
		slots: make(chan struct{}, cfg.MaxConns),
	}, nil
}

// From is the configured default From address ("" when none).
func (s *SMTP) From() string { return s.cfg.From }

// String describes the transport without credentials, for logs.
func (s *SMTP) String() string {
	return fmt.Sprintf("smtp %s (tls=%s)", s.server, s.cfg.Security)
}

// Send delivers b, retrying temporary failures with backoff. The error is
// a *SendError; IsTransient tells whether a later try may succeed.
func (s *SMTP) Send(ctx context.Context, b *Built) error {
	if err := b.checkSize(s.cfg.MaxMessageBytes); err != nil {
		return &SendError{Server: s.server, Stage: "size", Reply: err.Error(), Err: err}
	}
	attempts := 0
	var last *SendError
	err := s.cfg.Retry.policy().Do(ctx, func(ctx context.Context) error {
		attempts++
		err := s.sendOnce(ctx, b)
		if err == nil {
			return nil
		}
		last = classify(s.server, "send", err)
		last.Attempts = attempts
		if !last.Temporary {
			return retries.Permanent(last)
		}
		if attempts < s.cfg.Retry.Attempts && s.cfg.Log != nil {
			s.cfg.Log.Warn("smtp: temporary failure, will retry", "server", s.server, "message_id", b.MessageID, "attempt", attempts, "err", last.Error())
		}
		return last
	})
	if err != nil && last != nil && !errors.As(err, new(*SendError)) {
		return last // the context ended while waiting to retry
	}
	return err
}

// sendOnce sends b on one connection: an idle one when there is one, or
// a new one. An idle connection that turns out dead on the first command
// has delivered nothing, so the message goes straight to a fresh one.
func (s *SMTP) sendOnce(ctx context.Context, b *Built) error {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return &SendError{Server: s.server, Stage: "connect", Reply: "waiting for a free connection: " + ctx.Err().Error(), Temporary: true, Err: ctx.Err()}
	}
	defer func() { <-s.slots }()
	c, reused, err := s.take(ctx)
	if err != nil {
		return err
	}
	err = s.transact(ctx, c, b)
	var se *SendError
	if err != nil && reused && errors.As(err, &se) && se.Stage == "MAIL FROM" && connectionLost(se.Err) {
		if s.cfg.Log != nil {
			s.cfg.Log.Info("smtp: idle connection was closed by the server; reconnecting", "server", s.server)
		}
		c.c.Close()
		if c, err = s.dial(ctx); err != nil {
			return err
		}
		err = s.transact(ctx, c, b)
	}
	s.release(c, err)
	return err
}

// take returns an idle connection (reused true) or dials one.
func (s *SMTP) take(ctx context.Context) (*smtpConn, bool, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, false, &SendError{Server: s.server, Stage: "connect", Reply: "transport is closed"}
	}
	var stale []*smtpConn
	var found *smtpConn
	for len(s.idle) > 0 {
		c := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if time.Since(c.lastUsed) < s.cfg.IdleTimeout {
			found = c
			break
		}
		stale = append(stale, c)
	}
	s.mu.Unlock()
	for _, c := range stale {
		go quit(c)
	}
	if found != nil {
		return found, true, nil
	}
	c, err := s.dial(ctx)
	return c, false, err
}

// dial connects, says EHLO, upgrades to TLS and logs in, as configured.
func (s *SMTP) dial(ctx context.Context) (*smtpConn, error) {
	client, err := s.dialer.DialToSMTPClientWithContext(ctx)
	if err != nil {
		se := classify(s.server, "connect", err)
		se.Stage = "connect"
		msg := err.Error()
		switch {
		case strings.Contains(msg, "does not support STARTTLS"):
			se.Reply = "the server does not offer STARTTLS; add ?tls=implicit for a TLS port such as 465, or ?tls=none to send unencrypted on a trusted network"
		case strings.Contains(msg, "AUTH"):
			se.Stage = "AUTH"
		}
		return nil, se
	}
	c := &smtpConn{c: client, lastUsed: time.Now()}
	if ok, param := client.Extension("SIZE"); ok {
		c.maxSize, _ = strconv.ParseInt(strings.TrimSpace(param), 10, 64)
	}
	return c, nil
}

// transact runs MAIL FROM, RCPT TO and DATA for b on c.
func (s *SMTP) transact(ctx context.Context, c *smtpConn, b *Built) error {
	timeout := s.cfg.Timeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = time.Until(d)
	}
	if timeout <= 0 {
		return classify(s.server, "MAIL FROM", context.DeadlineExceeded)
	}
	if err := c.c.UpdateDeadline(timeout); err != nil {
		return classify(s.server, "MAIL FROM", err)
	}
	if c.maxSize > 0 {
		if err := b.checkSize(c.maxSize); err != nil {
			return &SendError{Server: s.server, Stage: "size", Reply: err.Error() + " (the server's SIZE limit)", Err: err}
		}
	}
	if err := c.c.Mail(angle(b.From)); err != nil {
		return classify(s.server, "MAIL FROM", err)
	}
	for _, r := range b.Recipients {
		if err := c.c.Rcpt(angle(r)); err != nil {
			return classify(s.server, "RCPT TO "+angle(r), err)
		}
	}
	w, err := c.c.Data()
	if err != nil {
		return classify(s.server, "DATA", err)
	}
	if _, err := w.Write(b.Raw); err != nil {
		_ = w.Close()
		return classify(s.server, "DATA", err)
	}
	if err := w.Close(); err != nil {
		return classify(s.server, "DATA", err)
	}
	return nil
}

// release keeps c for the next message unless err means it is broken.
func (s *SMTP) release(c *smtpConn, err error) {
	if err != nil && !usableAfter(c, err) {
		c.c.Close()
		return
	}
	c.lastUsed = time.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		go quit(c)
		return
	}
	s.idle = append(s.idle, c)
	s.mu.Unlock()
}

// usableAfter reports whether c can carry another message after err. A
// reply on a healthy connection (a 4xx or 5xx) leaves it usable once RSET
// ends the failed transaction; a dropped connection does not.
func usableAfter(c *smtpConn, err error) bool {
	var se *SendError
	switch {
	case !errors.As(err, &se) || se.Err == nil:
		return false
	case se.Stage == "size":
		return true // refused before MAIL FROM: nothing to reset
	case connectionLost(se.Err):
		return false
	}
	return c.c.Reset() == nil
}

// Close says QUIT on the idle connections; messages still being sent
// finish, and their connections close afterwards.
func (s *SMTP) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	s.mu.Unlock()
	for _, c := range idle {
		quit(c)
	}
	return nil
}

// quit ends a connection politely, within the deadline the connection
// already has.
func quit(c *smtpConn) {
	_ = c.c.UpdateDeadline(2 * time.Second)
	if err := c.c.Quit(); err != nil {
		c.c.Close()
	}
}

// angle writes an envelope address as <addr>, quoting the local part if
// it needs it.
func angle(addr string) string {
	return (&mail.Address{Address: addr}).String()
}
