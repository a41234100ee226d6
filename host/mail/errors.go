package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"syscall"
)

// TemporaryMarker is in the text of every transient SendError. A block
// sees host errors only as text (they cross the plugin boundary as a gRPC
// status message), so this phrase is the contract that tells it to retry
// the item later rather than fail it.
const TemporaryMarker = "temporary failure"

// SendError is a message the SMTP server did not take, or that could not
// reach it. Its text names the server and the step, and carries the
// server's reply; it never holds credentials.
type SendError struct {
	// Server is host:port.
	Server string
	// Stage is the SMTP step that failed: "connect", "MAIL FROM",
	// "RCPT TO <a@example.com>", "DATA" or "size".
	Stage string
	// Code is the SMTP reply code; 0 when the server gave none (a dropped
	// connection, a TLS failure).
	Code int
	// Reply is the server's reply text, or the local error.
	Reply string
	// Temporary is true for 4xx replies and for dropped or refused
	// connections: the same message may go through later.
	Temporary bool
	// Attempts is how many times the message was tried.
	Attempts int
	// Err is the underlying error.
	Err error
}

func (e *SendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "smtp %s: %s: ", e.Server, e.Stage)
	if e.Code != 0 {
		fmt.Fprintf(&b, "server replied %d %s", e.Code, e.Reply)
	} else {
		b.WriteString(e.Reply)
	}
	switch {
	case e.Temporary && e.Attempts > 1:
		fmt.Fprintf(&b, " (%s; tried %d times)", TemporaryMarker, e.Attempts)
	case e.Temporary:
		fmt.Fprintf(&b, " (%s)", TemporaryMarker)
	case e.Code >= 500 && e.Stage == "AUTH":
		b.WriteString(" (permanent: check the user name and password in the SMTP URL)")
	case e.Code >= 500:
		b.WriteString(" (permanent: the server refused this message)")
	}
	return b.String()
}

func (e *SendError) Unwrap() error { return e.Err }

// IsTransient reports whether err is a delivery failure that may succeed
// later (a 4xx reply, a dropped or refused connection), as opposed to a
// permanent one (a 5xx reply, an invalid or oversized message, a TLS or
// configuration problem). An error of another kind that says it is
// temporary (a Temporary() bool method), such as a sent-mail record that
// could not be read, is transient too.
func IsTransient(err error) bool {
	var se *SendError
	if errors.As(err, &se) {
		return se.Temporary
	}
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// classify turns an error from one SMTP step into a SendError.
func classify(server, stage string, err error) *SendError {
	var se *SendError
	if errors.As(err, &se) {
		return se
	}
	e := &SendError{Server: server, Stage: stage, Err: err, Reply: err.Error()}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		e.Code, e.Reply = tp.Code, strings.ReplaceAll(tp.Msg, "\n", " ")
		e.Temporary = tp.Code >= 400 && tp.Code < 500
		return e
	}
	e.Temporary = isConnectionProblem(err)
	return e
}

// isConnectionProblem is true for failures of the way to the server that
// a later attempt may not meet: drops, resets, refusals, timeouts. TLS
// certificate problems are not among them: they need a person.
func isConnectionProblem(err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var alert tls.AlertError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr),
		errors.As(err, &invalid), errors.As(err, &alert), errors.As(err, &recordErr):
		return false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return !dnsErr.IsNotFound // a misspelt host name needs a person
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// connectionLost is true when err means the connection can no longer be
// used (as opposed to a reply on a healthy connection).
func connectionLost(err error) bool {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code == 421 // the server is closing the connection
	}
	return true
}
