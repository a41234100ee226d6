package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// ServeProfiles serves Go's runtime profiles (/debug/pprof/) on addr,
// for measuring a host (pfsoak takes heap profiles of serve with it). addr
// must be a loopback address: the profiles show the host's memory and its
// stacks, so they never share the API's listener or leave the machine. An
// empty addr serves nothing. stop closes the listener.
func ServeProfiles(addr string, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	if err := checkLoopback(addr); err != nil {
		return nil, fmt.Errorf("profiles: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("profiles: %w", err)
	}
	// No /debug/pprof/cmdline: the command line may carry tokens.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: loopbackHostOnly(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	if log == nil {
		log = slog.Default()
	}
	log.Info("serving Go profiles", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { _ = srv.Close() }, nil
}

// checkLoopback accepts host:port addresses whose host is a loopback IP
// literal; a name such as localhost is looked up, so it is not one for
// sure.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback IP address (127.0.0.1:PORT or [::1]:PORT)", addr)
	}
	return nil
}

// loopbackHostOnly refuses requests whose Host header names anything but
// a loopback IP or localhost: a web page a browser on this machine opens
// could otherwise point a name of its own at 127.0.0.1 and read the
// profiles (DNS rebinding).
func loopbackHostOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hst, _, err := net.SplitHostPort(host); err == nil {
			host = hst
		}
		host = strings.Trim(host, "[]")
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "profiles are served to a loopback Host only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
