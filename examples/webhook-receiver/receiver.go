package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/paperflow/paperflow/plugins/webhook/verify"
)

// DemoSecret is the secret of workflows/webhook.yaml, so the demo works
// without configuration. Use your own (paperflow webhooks subscribe prints
// one) for anything real.
const DemoSecret = "whsec_cGFwZXJmbG93IGRlbW8gc2VjcmV0LCBub3QgcmVhbCE="

type options struct {
	listen    string
	path      string
	secrets   []string
	raw       bool
	tolerance time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var secrets string
	fs := flag.NewFlagSet("webhook-receiver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9000", "address to listen on")
	fs.StringVar(&o.path, "path", "/webhook", "URL path that receives deliveries")
	def := os.Getenv("WEBHOOK_SECRET")
	if def == "" {
		def = DemoSecret
	}
	fs.StringVar(&secrets, "secret", def, "signing secret(s), comma-separated during a rotation (env WEBHOOK_SECRET; default: the demo workflow's)")
	fs.BoolVar(&o.raw, "json", false, "print each verified envelope as received, one per line")
	fs.DurationVar(&o.tolerance, "tolerance", verify.DefaultTolerance, "accepted clock difference (replay protection)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: webhook-receiver [flags]\n\nReceives paperflow webhooks, verifies their signatures and prints the events.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	for s := range strings.SplitSeq(secrets, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.secrets = append(o.secrets, s)
		}
	}
	if len(o.secrets) == 0 {
		return o, errors.New("-secret: give the signing secret")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+o.path, newHandler(o, stdout, stderr))
	// A receiver on the internet meets slow and idle clients too: bound
	// every phase of a connection.
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(stderr, "receiving paperflow webhooks on http://%s%s\n", ln.Addr(), o.path)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handler verifies and prints deliveries.
type handler struct {
	v      verify.Verifier
	raw    bool
	out    io.Writer
	errOut io.Writer

	mu   sync.Mutex
	seen *recent
}

func newHandler(o options, stdout, stderr io.Writer) *handler {
	return &handler{
		v:   verify.Verifier{Secrets: o.secrets, Tolerance: o.tolerance, MaxBody: 1 << 20},
		raw: o.raw, out: stdout, errOut: stderr, seen: newRecent(10000),
	}
}

// envelope is the part of an event this receiver prints.
type envelope struct {
	EventID   string          `json:"eventId"`
	EventType string          `json:"eventType"`
	Data      json.RawMessage `json:"data"`
	Metadata  struct {
		Workflow string `json:"workflow"`
		RunID    string `json:"run_id"`
		ItemID   string `json:"item_id"`
		BlockID  string `json:"block_id"`
	} `json:"metadata"`
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Verify the raw body first; parse only what was verified.
	body, err := h.v.Request(r)
	if err != nil {
		fmt.Fprintf(h.errOut, "refused a delivery from %s: %v\n", r.RemoteAddr, err)
		http.Error(w, "signature verification failed", http.StatusUnauthorized)
		return
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || env.EventID == "" {
		http.Error(w, "not a paperflow event", http.StatusBadRequest)
		return
	}
	// Delivery is at least once: the same event may come again (after a
	// timeout, a host restart, a replay). Its id says so.
	h.mu.Lock()
	dup := !h.seen.add(env.EventID)
	if !dup {
		if h.raw {
			fmt.Fprintln(h.out, string(body))
		} else {
			fmt.Fprintf(h.out, "%s  %-21s %s  workflow=%s item=%s block=%s\n", time.Now().Format("15:04:05.000"),
				env.EventType, env.EventID, env.Metadata.Workflow, env.Metadata.ItemID, env.Metadata.BlockID)
		}
	}
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent) // a duplicate is acknowledged too, or it would be retried
}

// recent remembers the last n event ids.
type recent struct {
	ids  map[string]bool
	ring []string
	next int
}

func newRecent(n int) *recent { return &recent{ids: map[string]bool{}, ring: make([]string, n)} }

// add records id and reports whether it is new.
func (r *recent) add(id string) bool {
	if r.ids[id] {
		return false
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.ids, old)
	}
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
	r.ids[id] = true
	return true
}
