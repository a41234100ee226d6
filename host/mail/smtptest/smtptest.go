// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 for tests, as net/http/httptest does for HTTP: plain, STARTTLS
// or implicit TLS with a certificate made at start, optional AUTH PLAIN,
// and hooks that answer a message with an SMTP error or drop the
// connection. It records every message it accepts and every connection it
// accepts, and lets a test wait for messages without sleeping.
package smtptest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Security is how clients reach the server.
type Security int

const (
	// Plain offers no TLS at all.
	Plain Security = iota
	// StartTLS offers STARTTLS on a plain connection.
	StartTLS
	// Implicit speaks TLS from the first byte (smtps).
	Implicit
)

// Options configure a Server.
type Options struct {
	Security Security
	// User and Password, when User is set, require AUTH PLAIN before MAIL.
	User, Password string
	// OnData, when set, is asked about every message before it is
	// accepted; n counts DATA commands from 1. Return nil to accept,
	// Reply(...) to answer with an SMTP error, or Drop to cut the
	// connection without an answer.
	OnData func(n int, m Message) error
	// MaxMessageBytes is advertised as SIZE and enforced (0: no limit).
	MaxMessageBytes int64
	// Discard keeps no message data (Message.Data is nil), for
	// benchmarks that send many messages.
	Discard bool
}

// Drop, returned by Options.OnData, closes the connection mid-DATA.
var Drop = errors.New("smtptest: drop the connection")

// Reply returns an SMTP error reply, e.g. Reply(451, "4.3.0 try again
// later"); a leading enhanced status code is sent as such.
func Reply(code int, text string) error {
	e := &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: text}
	if head, rest, ok := strings.Cut(text, " "); ok {
		var ec smtp.EnhancedCode
		if n, _ := fmt.Sscanf(head, "%d.%d.%d", &ec[0], &ec[1], &ec[2]); n == 3 {
			e.EnhancedCode, e.Message = ec, rest
		}
	}
	return e
}

// Message is one message as the server received it.
type Message struct {
	From string   // MAIL FROM
	To   []string // RCPT TO, in order
	Data []byte   // the message as sent, dot-unstuffed
	TLS  bool     // received over TLS
	Auth string   // the user that authenticated, if any
}

// Server is a running SMTP server.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// Host and Port are Addr's parts.
	Host string
	Port int
	// CertPool trusts the server's certificate (nil for Plain).
	CertPool *x509.CertPool

	opts Options
	srv  *smtp.Server

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every new message
	messages []Message
	conns    []net.Conn
	accepted int
	datas    int
}

// Start runs a server until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{opts: o, changed: make(chan struct{})}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "smtptest.localhost"
	srv.AllowInsecureAuth = o.Security == Plain
	srv.MaxMessageBytes = o.MaxMessageBytes
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	if o.Security != Plain {
		cert, pool, err := selfSigned()
		if err != nil {
			t.Fatalf("smtptest: certificate: %v", err)
		}
		s.CertPool = pool
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if o.Security == StartTLS {
			srv.TLSConfig = cfg
		} else {
			l = tls.NewListener(l, cfg)
		}
	}
	s.srv = srv
	s.Addr = l.Addr().String()
	tcp := l.Addr().(*net.TCPAddr)
	s.Host, s.Port = tcp.IP.String(), tcp.Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(countingListener{l, s})
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = l.Close() // Close misses a listener that Serve has not registered yet
		<-done
	})
	return s
}

// URL is an SMTP URL for the server in paperflow's form, with the
// credentials from Options and insecure_skip_verify for the test
// certificate. extra is appended to the query (e.g. "timeout=2s").
func (s *Server) URL(extra string) string {
	u := url.URL{Scheme: "smtp", Host: s.Addr}
	q := url.Values{}
	switch s.opts.Security {
	case Plain:
		q.Set("tls", "none")
	case StartTLS:
		q.Set("tls", "starttls")
	case Implicit:
		u.Scheme = "smtps"
	}
	if s.opts.Security != Plain {
		q.Set("insecure_skip_verify", "1")
	}
	if s.opts.User != "" {
		u.User = url.UserPassword(s.opts.User, s.opts.Password)
	}
	u.RawQuery = q.Encode()
	if extra != "" {
		u.RawQuery += "&" + extra
	}
	return u.String()
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Wait returns once n messages have been accepted, or fails the test when
// ctx ends first.
func (s *Server) Wait(ctx context.Context, t testing.TB, n int) []Message {
	t.Helper()
	for {
		s.mu.Lock()
		got, ch := len(s.messages), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("smtptest: %d message(s) received, want %d: %v", got, n, ctx.Err())
		}
	}
}

// Connections is the number of connections accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// DataCommands is the number of DATA commands seen, accepted or not.
func (s *Server) DataCommands() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.datas
}

// CloseConnections cuts every open connection, as a server restarting or
// timing out idle clients does.
func (s *Server) CloseConnections() {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

type countingListener struct {
	net.Listener
	s *Server
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.s.mu.Lock()
		l.s.accepted++
		l.s.conns = append(l.s.conns, c)
		l.s.mu.Unlock()
	}
	return c, err
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{s: b.s, conn: c, tls: isTLS}, nil
}

type session struct {
	s    *Server
	conn *smtp.Conn
	tls  bool
	user string
	from string
	to   []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.s.opts.User == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.s.opts.User || pass != ss.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.User != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Message{From: ss.from, To: append([]string(nil), ss.to...), Data: data, TLS: ss.tls, Auth: ss.user}
	s := ss.s
	s.mu.Lock()
	s.datas++
	n := s.datas
	s.mu.Unlock()
	if s.opts.OnData != nil {
		if err := s.opts.OnData(n, m); err != nil {
			if errors.Is(err, Drop) {
				_ = ss.conn.Conn().Close()
			}
			return err
		}
	}
	if s.opts.Discard {
		m.Data = nil
	}
	s.mu.Lock()
	s.messages = append(s.messages, m)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool
// that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("parse certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
