package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// The host's HTTP limits and deadlines, in one place. A client that sends slowly or
// sits idle is cut off at these, so a few idle sockets cannot hold the
// server's connections. The server-wide read and write timeouts suit the
// API's small JSON requests and answers; the routes that need more time
// (block pages, which may take uploads and wait on their block, and
// document downloads) extend their own deadlines per request.
const (
	// ReadHeaderTimeout bounds the reading of a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds the reading of a whole request, headers and body.
	// API bodies are at most 64 KiB.
	ReadTimeout = 20 * time.Second
	// WriteTimeout bounds a request from the end of its headers to the end
	// of its answer, on routes that do not set their own.
	WriteTimeout = 30 * time.Second
	// IdleTimeout closes a keep-alive connection that sends no next request.
	IdleTimeout = 60 * time.Second
	// BlockBodyTimeout bounds the reading of a body posted to a block's
	// route (up to MaxBlockRequest).
	BlockBodyTimeout = 60 * time.Second
	// BlockCallTimeout bounds a block's answer to a request on its route.
	BlockCallTimeout = 30 * time.Second
	// DownloadTimeout bounds the sending of one document.
	DownloadTimeout = 10 * time.Minute
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 64 << 10
	// MaxBlockRequest bounds a request body forwarded to a block.
	MaxBlockRequest = 16 << 20
	// maxAPIRequest bounds the JSON body of an API call.
	maxAPIRequest = 64 << 10
)

// Timeouts are the deadlines of the host's HTTP server; a zero field takes
// its constant above. Tests set small ones.
type Timeouts struct {
	ReadHeader, Read, Write, Idle, BlockBody, BlockCall, Download time.Duration
}

// withDefaults fills the zero fields from the constants.
func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ReadHeader, ReadHeaderTimeout)
	def(&t.Read, ReadTimeout)
	def(&t.Write, WriteTimeout)
	def(&t.Idle, IdleTimeout)
	def(&t.BlockBody, BlockBodyTimeout)
	def(&t.BlockCall, BlockCallTimeout)
	def(&t.Download, DownloadTimeout)
	return t
}

// HTTPServer returns the http.Server that serves s, with s's timeouts.
// Every http.Server of the host is made here, so none runs without them.
func (s *Server) HTTPServer() *http.Server {
	t := s.Timeouts.withDefaults()
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// extend gives the request being served new read and write deadlines from
// now; a zero duration leaves that deadline as the server set it.
func (s *Server) extend(w http.ResponseWriter, read, write time.Duration) {
	rc := http.NewResponseController(w)
	now := time.Now()
	if read > 0 {
		if err := rc.SetReadDeadline(now.Add(read)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			s.Log.Debug("set read deadline", "err", err)
		}
	}
	if write > 0 {
		if err := rc.SetWriteDeadline(now.Add(write)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			s.Log.Debug("set write deadline", "err", err)
		}
	}
}

// downloads lets h write for up to the Download timeout rather than the
// server's write timeout: a document can be large and the client slow.
func (s *Server) downloads(h http.Handler) http.Handler {
	t := s.Timeouts.withDefaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.extend(w, 0, t.Download)
		h.ServeHTTP(w, r)
	})
}

// bodyTooSlowOrLarge answers a request whose body could not be read: 413
// when it exceeded its limit, 408 when it did not arrive in time.
func bodyTooSlowOrLarge(w http.ResponseWriter, err error, limit int64) {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", limit))
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestTimeout, "request body too slow: send it within the server's read timeout")
	default:
		writeError(w, http.StatusBadRequest, "request body could not be read; send it again")
	}
}
