package mail_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/mail/smtptest"
)

// newSMTP makes a transport for srv with fast retries; tweak adjusts the
// configuration parsed from the server's URL.
func newSMTP(t testing.TB, srv *smtptest.Server, extra string, tweak ...func(*mail.SMTPConfig)) *mail.SMTP {
	t.Helper()
	cfg, err := mail.ParseSMTPURL(srv.URL(extra))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Retry = mail.RetryPolicy{Attempts: 3, Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	cfg.Timeout = 5 * time.Second
	for _, f := range tweak {
		f(&cfg)
	}
	s, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

const subject = "Rechnung für Zoë Ångström — 請求書 #1"

func sampleMessage(pdf []byte) mail.Message {
	return mail.Message{
		From:    "Paperflow Billing <billing@example.com>",
		ReplyTo: "help@example.com",
		To:      []string{"Zoë Ångström <zoe@example.com>"},
		Cc:      []string{"accounts@example.com"},
		Bcc:     []string{"archive@example.com"},
		Subject: subject,
		Text:    "Dear Zoë,\nyour invoice is attached.\n",
		HTML:    "<p>Dear Zoë,<br>your invoice is <b>attached</b>.</p>",
		Attachments: []mail.File{
			{Name: "Invoice 1.pdf", Mimetype: "application/pdf", Data: pdf},
		},
	}
}

func build(t testing.TB, m mail.Message) *mail.Built {
	t.Helper()
	b, err := mail.Build(m, "test.localhost", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parsed is a received message read back with net/mail and mime/multipart.
type parsed struct {
	header      netmail.Header
	subject     string
	text, html  string
	attachments map[string][]byte
}

func parse(t testing.TB, data []byte) parsed {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v", err)
	}
	p := parsed{header: m.Header, attachments: map[string][]byte{}}
	if p.subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("subject: %v", err)
	}
	walkParts(t, m.Header.Get("Content-Type"), m.Body, &p)
	return p
}

func walkParts(t testing.TB, contentType string, body io.Reader, p *parsed) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("content type %q: %v", contentType, err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		t.Fatalf("want a multipart body, got %s", mt)
	}
	r := multipart.NewReader(body, params["boundary"])
	for {
		part, err := r.NextPart() // decodes quoted-printable itself
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		ct := part.Header.Get("Content-Type")
		pmt, _, _ := mime.ParseMediaType(ct)
		data, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(pmt, "multipart/"):
			walkParts(t, ct, bytes.NewReader(data), p)
		case part.FileName() != "":
			dec, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(data)))
			if err != nil {
				t.Fatalf("attachment %s: %v", part.FileName(), err)
			}
			p.attachments[part.FileName()] = dec
		case pmt == "text/plain": // text travels with CRLF line ends
			p.text = strings.ReplaceAll(string(data), "\r\n", "\n")
		case pmt == "text/html":
			p.html = strings.ReplaceAll(string(data), "\r\n", "\n")
		}
	}
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestSMTPDelivers sends one message over each kind of connection and
// reads it back as the server received it.
func TestSMTPDelivers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		opts     smtptest.Options
		extra    string
		wantTLS  bool
		wantAuth string
	}{
		{name: "plain", opts: smtptest.Options{Security: smtptest.Plain}},
		{name: "plain with AUTH PLAIN on localhost", opts: smtptest.Options{Security: smtptest.Plain, User: "relay", Password: "s3cret"}, extra: "auth=plain", wantAuth: "relay"},
		{name: "starttls with AUTH PLAIN", opts: smtptest.Options{Security: smtptest.StartTLS, User: "ada@example.com", Password: "p@ss:/word"}, wantTLS: true, wantAuth: "ada@example.com"},
		{name: "implicit TLS with AUTH PLAIN", opts: smtptest.Options{Security: smtptest.Implicit, User: "ada", Password: "pw"}, wantTLS: true, wantAuth: "ada"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, c.opts)
			tr := newSMTP(t, srv, c.extra)
			pdf := randomBytes(t, 30_000)
			b := build(t, sampleMessage(pdf))
			if err := tr.Send(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			got := srv.Wait(waitCtx(t), t, 1)[0]
			if got.TLS != c.wantTLS || got.Auth != c.wantAuth {
				t.Errorf("tls %v auth %q, want %v %q", got.TLS, got.Auth, c.wantTLS, c.wantAuth)
			}
			if got.From != "billing@example.com" {
				t.Errorf("MAIL FROM %q", got.From)
			}
			if want := []string{"zoe@example.com", "accounts@example.com", "archive@example.com"}; !slices.Equal(got.To, want) {
				t.Errorf("RCPT TO %v, want %v", got.To, want)
			}
			if bytes.Contains(got.Data, []byte("archive@example.com")) {
				t.Errorf("the Bcc address appears in the message itself:\n%s", got.Data)
			}
			p := parse(t, got.Data)
			if id := p.header.Get("Message-Id"); id != b.MessageID {
				t.Errorf("Message-ID %q, want the one Build returned %q", id, b.MessageID)
			}
			if p.subject != subject {
				t.Errorf("subject %q, want %q", p.subject, subject)
			}
			to, err := p.header.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Name != "Zoë Ångström" || to[0].Address != "zoe@example.com" {
				t.Errorf("To %v (%v)", to, err)
			}
			if cc := p.header.Get("Cc"); cc != "<accounts@example.com>" {
				t.Errorf("Cc %q", cc)
			}
			if p.header.Get("Bcc") != "" {
				t.Errorf("a Bcc header was sent")
			}
			if p.text != "Dear Zoë,\nyour invoice is attached.\n" {
				t.Errorf("text part %q", p.text)
			}
			if !strings.Contains(p.html, "<b>attached</b>") {
				t.Errorf("html part %q", p.html)
			}
			if !bytes.Equal(p.attachments["Invoice 1.pdf"], pdf) {
				t.Errorf("attachment: %d bytes received, want the %d sent, identical", len(p.attachments["Invoice 1.pdf"]), len(pdf))
			}
		})
	}
}

func TestSMTPRetriesTemporaryFailure(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{OnData: func(n int, _ smtptest.Message) error {
		if n == 1 {
			return smtptest.Reply(451, "4.3.0 mailbox busy, try again")
		}
		return nil
	}})
	tr := newSMTP(t, srv, "")
	if err := tr.Send(context.Background(), build(t, sampleMessage(nil))); err != nil {
		t.Fatalf("a 451 then OK should deliver: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages delivered, want exactly 1", n)
	}
	if n := srv.DataCommands(); n != 2 {
		t.Errorf("%d DATA commands, want 2 (one 451, one OK)", n)
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections: a 451 leaves the connection usable, want 1", n)
	}
}

func TestSMTPTemporaryFailureGivesUp(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{OnData: func(int, smtptest.Message) error {
		return smtptest.Reply(421, "4.7.0 too many messages, slow down")
	}})
	tr := newSMTP(t, srv, "")
	err := tr.Send(context.Background(), build(t, sampleMessage(nil)))
	if !mail.IsTransient(err) {
		t.Fatalf("want a transient error, got %v", err)
	}
	var se *mail.SendError
	if !errors.As(err, &se) || se.Attempts != 3 || se.Code != 421 {
		t.Errorf("error %#v: want 3 attempts and code 421", se)
	}
	for _, want := range []string{"421", "slow down", mail.TemporaryMarker, "tried 3 times"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := srv.DataCommands(); n != 3 {
		t.Errorf("%d DATA commands, want 3", n)
	}
}

func TestSMTPPermanentFailure(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{OnData: func(int, smtptest.Message) error {
		return smtptest.Reply(550, "5.7.1 message rejected: looks like spam")
	}})
	tr := newSMTP(t, srv, "")
	err := tr.Send(context.Background(), build(t, sampleMessage(nil)))
	if err == nil || mail.IsTransient(err) {
		t.Fatalf("want a permanent error, got %v", err)
	}
	for _, want := range []string{"550", "looks like spam", "DATA", "permanent"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := srv.DataCommands(); n != 1 {
		t.Errorf("%d DATA commands: a 5xx is not retried", n)
	}
	// The connection stays usable after a refusal.
	srv2 := smtptest.Start(t, smtptest.Options{OnData: func(n int, _ smtptest.Message) error {
		if n == 1 {
			return smtptest.Reply(554, "5.6.0 no")
		}
		return nil
	}})
	tr2 := newSMTP(t, srv2, "")
	_ = tr2.Send(context.Background(), build(t, sampleMessage(nil)))
	if err := tr2.Send(context.Background(), build(t, sampleMessage(nil))); err != nil {
		t.Fatal(err)
	}
	if n := srv2.Connections(); n != 1 {
		t.Errorf("%d connections after a refusal, want 1 (RSET and reuse)", n)
	}
}

func TestSMTPConnectionDropIsRetried(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{OnData: func(n int, _ smtptest.Message) error {
		if n == 1 {
			return smtptest.Drop
		}
		return nil
	}})
	tr := newSMTP(t, srv, "")
	if err := tr.Send(context.Background(), build(t, sampleMessage(nil))); err != nil {
		t.Fatalf("a dropped connection should be retried on a new one: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestSMTPReusesConnections(t *testing.T) {
	t.Parallel()
	t.Run("one after another", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Options{Security: smtptest.StartTLS, User: "u", Password: "p"})
		tr := newSMTP(t, srv, "")
		for i := range 20 {
			m := sampleMessage(nil)
			m.Subject = fmt.Sprint("message ", i)
			if err := tr.Send(context.Background(), build(t, m)); err != nil {
				t.Fatal(err)
			}
		}
		if n := srv.Connections(); n != 1 {
			t.Errorf("20 messages over %d connections, want 1", n)
		}
	})
	t.Run("concurrent, bounded", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Options{})
		tr := newSMTP(t, srv, "max_conns=3")
		var wg sync.WaitGroup
		errs := make(chan error, 60)
		for range 60 {
			wg.Go(func() { errs <- tr.Send(context.Background(), build(t, sampleMessage(nil))) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := len(srv.Messages()); n != 60 {
			t.Errorf("%d messages, want 60", n)
		}
		if n := srv.Connections(); n < 1 || n > 3 {
			t.Errorf("%d connections, want 1 to 3 (max_conns)", n)
		}
	})
	t.Run("server closed the idle connection", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Options{})
		tr := newSMTP(t, srv, "attempts=1") // the reconnect is not a retry
		if err := tr.Send(context.Background(), build(t, sampleMessage(nil))); err != nil {
			t.Fatal(err)
		}
		srv.CloseConnections()
		if err := tr.Send(context.Background(), build(t, sampleMessage(nil))); err != nil {
			t.Fatalf("after the server closed the idle connection: %v", err)
		}
		if n, d := srv.Connections(), len(srv.Messages()); n != 2 || d != 2 {
			t.Errorf("%d connections, %d messages; want 2 and 2", n, d)
		}
	})
}

func TestSMTPRefusesHeaderInjection(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	tr := newSMTP(t, srv, "")
	for name, m := range map[string]mail.Message{
		"subject":         {From: "a@example.com", To: []string{"b@example.com"}, Subject: "Hi\r\nBcc: victim@example.com"},
		"to":              {From: "a@example.com", To: []string{"b@example.com\r\nBcc: victim@example.com"}},
		"from":            {From: "a@example.com\nBcc: victim@example.com", To: []string{"b@example.com"}},
		"reply-to":        {From: "a@example.com", To: []string{"b@example.com"}, ReplyTo: "c@example.com\r\nX-Evil: 1"},
		"attachment name": {From: "a@example.com", To: []string{"b@example.com"}, Attachments: []mail.File{{Name: "a.pdf\r\nX-Evil: 1", Data: []byte("x")}}},
	} {
		b, err := mail.Build(m, "test.localhost", time.Now())
		if err == nil {
			err = tr.Send(context.Background(), b)
			t.Errorf("%s: a line break in a header value was accepted (send: %v)", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "line break") {
			t.Errorf("%s: error %q does not say why", name, err)
		}
	}
	if n := srv.DataCommands(); n != 0 {
		t.Errorf("%d messages reached the server", n)
	}
}

func TestSMTPSizeLimits(t *testing.T) {
	t.Parallel()
	pdf := randomBytes(t, 30_000)
	t.Run("ours", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Options{})
		tr := newSMTP(t, srv, "max_message_bytes=20KiB")
		err := tr.Send(context.Background(), build(t, sampleMessage(pdf)))
		if err == nil || mail.IsTransient(err) || !strings.Contains(err.Error(), "over the limit of 20.0 KiB") {
			t.Fatalf("want a permanent size error, got %v", err)
		}
		if srv.Connections() != 0 {
			t.Errorf("connected although the message was too large")
		}
	})
	t.Run("the server's SIZE", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Options{MaxMessageBytes: 20_000})
		tr := newSMTP(t, srv, "")
		err := tr.Send(context.Background(), build(t, sampleMessage(pdf)))
		if err == nil || mail.IsTransient(err) || !strings.Contains(err.Error(), "SIZE") {
			t.Fatalf("want a permanent size error naming the server's SIZE, got %v", err)
		}
		if srv.DataCommands() != 0 {
			t.Errorf("sent DATA although the server's SIZE was exceeded")
		}
	})
	t.Run("outbox", func(t *testing.T) {
		t.Parallel()
		o := mail.Outbox{Dir: t.TempDir(), MaxMessageBytes: 20_000}
		err := o.Send(context.Background(), build(t, sampleMessage(pdf)))
		if err == nil || !strings.Contains(err.Error(), "over the limit") {
			t.Fatalf("outbox: want a size error, got %v", err)
		}
		if files, _ := o.List(); len(files) != 0 {
			t.Errorf("outbox wrote %v", files)
		}
	})
}

func TestSMTPAuthFailureIsPermanentAndRedacted(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{Security: smtptest.Implicit, User: "ada", Password: "right"})
	cfg, err := mail.ParseSMTPURL(srv.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = "wrong-Pa55word"
	tr, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	err = tr.Send(context.Background(), build(t, sampleMessage(nil)))
	if err == nil || mail.IsTransient(err) {
		t.Fatalf("want a permanent error, got %v", err)
	}
	if !strings.Contains(err.Error(), "535") || !strings.Contains(err.Error(), "AUTH") {
		t.Errorf("error %q should carry the 535 reply and name AUTH", err)
	}
	if strings.Contains(err.Error(), "wrong-Pa55word") {
		t.Errorf("error shows the password: %q", err)
	}
}

func TestSMTPVerifiesCertificates(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{Security: smtptest.StartTLS})
	cfg, err := mail.ParseSMTPURL(fmt.Sprintf("smtp://%s?tls=starttls", srv.Addr))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Retry.Attempts = 1
	tr, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	err = tr.Send(context.Background(), build(t, sampleMessage(nil)))
	if err == nil || mail.IsTransient(err) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an untrusted certificate: want a permanent certificate error, got %v", err)
	}
	cfg.RootCAs = srv.CertPool
	trusted, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer trusted.Close()
	if err := trusted.Send(context.Background(), build(t, sampleMessage(nil))); err != nil {
		t.Fatalf("with the server's CA trusted: %v", err)
	}
}

func TestSMTPStartTLSRequired(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{Security: smtptest.Plain})
	tr := newSMTP(t, srv, "", func(c *mail.SMTPConfig) { c.Security = mail.StartTLS })
	err := tr.Send(context.Background(), build(t, sampleMessage(nil)))
	if err == nil || mail.IsTransient(err) || !strings.Contains(err.Error(), "tls=none") {
		t.Fatalf("want a permanent error suggesting tls=none, got %v", err)
	}
	if srv.DataCommands() != 0 {
		t.Errorf("sent in the clear although STARTTLS was required")
	}
}

func TestSMTPConnectionRefusedIsTransient(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg, err := mail.ParseSMTPURL("smtp://" + addr + "?tls=none")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Retry = mail.RetryPolicy{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond}
	tr, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	err = tr.Send(context.Background(), build(t, sampleMessage(nil)))
	if !mail.IsTransient(err) || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("want a transient connect error, got %v", err)
	}
}

func TestSMTPContextCancelled(t *testing.T) {
	t.Parallel()
	first := make(chan struct{})
	var once sync.Once
	srv := smtptest.Start(t, smtptest.Options{OnData: func(int, smtptest.Message) error {
		once.Do(func() { close(first) })
		return smtptest.Reply(451, "4.3.0 later")
	}})
	tr := newSMTP(t, srv, "", func(c *mail.SMTPConfig) {
		c.Retry = mail.RetryPolicy{Attempts: 10, Initial: time.Hour, Max: time.Hour}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Send(ctx, build(t, sampleMessage(nil))) }()
	wait := waitCtx(t)
	select {
	case <-first:
	case <-wait.Done():
		t.Fatal("the message never reached the server")
	}
	cancel()
	select {
	case err := <-done:
		if !mail.IsTransient(err) || !strings.Contains(err.Error(), "451") {
			t.Errorf("cancelled while waiting to retry: want the last 451 (transient), got %v", err)
		}
	case <-wait.Done():
		t.Fatal("Send did not return after its context was cancelled")
	}
}

func TestNewTransport(t *testing.T) {
	t.Parallel()
	if _, err := mail.NewTransport(""); err == nil {
		t.Error("an empty URL should be an error (the caller uses the outbox)")
	}
	tr, err := mail.NewTransport("smtp://user:hunter2@mail.example.com?from=Billing%20%3Cbilling@example.com%3E")
	if err != nil {
		t.Fatal(err)
	}
	s := tr.(*mail.SMTP)
	defer s.Close()
	if s.From() != "Billing <billing@example.com>" {
		t.Errorf("From %q", s.From())
	}
	if strings.Contains(s.String(), "hunter2") || !strings.Contains(s.String(), "mail.example.com:587") {
		t.Errorf("String %q", s.String())
	}
}

func TestOutboxStillWrites(t *testing.T) {
	t.Parallel()
	o := mail.Outbox{Dir: filepath.Join(t.TempDir(), "outbox")}
	b := build(t, sampleMessage(randomBytes(t, 1000)))
	if err := o.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	files, err := o.List()
	if err != nil || len(files) != 1 {
		t.Fatalf("%v %v", files, err)
	}
	data, err := os.ReadFile(files[0])
	if err != nil || !bytes.Equal(data, b.Raw) {
		t.Errorf("outbox file differs from the built message (%v)", err)
	}
}
