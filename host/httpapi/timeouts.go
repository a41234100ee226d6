package httpapi

import (
	"net/http"
	"time"
)

// Timeouts are the deadlines of the host's HTTP server.
type Timeouts struct {
	ReadHeader, Read, Write, Idle, BlockBody, BlockCall, Download time.Duration
}

// HTTPServer returns the http.Server that serves s.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
}
