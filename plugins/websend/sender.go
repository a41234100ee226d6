package websend

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/jsonvalue"
	"github.com/paperflow/paperflow/plugins/sdk/redact"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
	"github.com/paperflow/paperflow/plugins/webhook/verify"
)

// Bounds on what is read of a response.
const (
	// MaxResponse is how much of a response body is read at most; a longer
	// body is cut off (and its connection not reused).
	MaxResponse = 64 << 10
	// SnippetSize is how much of it is kept for the attempt log.
	SnippetSize = 512
	// MaxRetryAfter caps a receiver's Retry-After.
	MaxRetryAfter = 24 * time.Hour
)

// GoneStore remembers endpoints that answered 410 Gone, so that nothing is
// sent to them again. The block keeps it in Host KV; a subscription
// disables itself instead.
type GoneStore interface {
	// Gone reports whether endpoint answered 410 Gone before.
	Gone(ctx context.Context, endpoint string) bool
	// MarkGone records that endpoint answered 410 Gone.
	MarkGone(ctx context.Context, endpoint string) error
}

// Options are what the runner of a Sender provides beyond the Config.
type Options struct {
	// Allow lists address ranges that may be reached although private or
	// loopback (the host's PAPERFLOW_WEBHOOK_ALLOW).
	Allow []netip.Prefix
	// Gone remembers 410 answers; nil remembers them in memory, for the
	// life of the Sender.
	Gone GoneStore
	// Now is the clock for signature timestamps (time.Now when nil).
	Now func() time.Time
	// MaxParallel bounds the requests in flight to the endpoint, across
	// all Deliver calls (default 64); as many connections are kept alive.
	MaxParallel int
	// UserAgent is sent with every request.
	UserAgent string
}

// Sender sends events to one webhook endpoint. It is safe for concurrent
// use and keeps connections alive between deliveries.
type Sender struct {
	c      *compiled
	o      Options
	signer *verify.Signer
	client *http.Client
	slots  chan struct{} // MaxParallel requests in flight
	idle   chan func()   // to a worker waiting for its next request (spawn)
}

// New checks cfg and returns a Sender. Its errors name the offending key
// (and a bad jq expression), never a value that may be a secret.
func New(cfg Config, o Options) (*Sender, error) {
	c, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxParallel <= 0 {
		o.MaxParallel = 64
	}
	if o.Gone == nil {
		o.Gone = &memoryGone{known: map[string]bool{}}
	}
	if o.UserAgent == "" {
		o.UserAgent = "paperflow-webhook/1"
	}
	g := guard{allowAll: cfg.AllowPrivate, allow: o.Allow}
	dialer := &net.Dialer{Timeout: min(c.timeout, 10*time.Second), KeepAlive: 30 * time.Second, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would be the address checked, not the endpoint
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          max(1024, o.MaxParallel),
		MaxIdleConnsPerHost:   o.MaxParallel,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &Sender{
		c: c, o: o, signer: verify.NewSigner(c.secrets...), slots: make(chan struct{}, o.MaxParallel), idle: make(chan func()),
		client: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// Close releases the idle connections.
func (s *Sender) Close() { s.client.CloseIdleConnections() }

// Deliver sends each event in its own request, concurrently, and returns
// one Delivery per event in order.
func (s *Sender) Deliver(ctx context.Context, events []sdk.Event) []sdk.Delivery {
	out := make([]sdk.Delivery, len(events))
	var wg sync.WaitGroup
	for i := range events {
		s.slots <- struct{}{}
		wg.Add(1)
		s.spawn(func() {
			defer func() {
				<-s.slots
				wg.Done()
			}()
			out[i] = s.one(ctx, events[i])
		})
	}
	wg.Wait()
	return out
}

// workerIdle is how long a goroutine that sent a request waits for the
// next before it ends.
const workerIdle = 10 * time.Second

// spawn runs f on a goroutine that sent a request before and waits for
// another, or on a new one that then waits likewise. Events come to a
// sink a few at a time, and a new goroutine per request grew its stack
// anew each time (net/http calls go deep): copying stacks was 7-11% of
// the webhook block's CPU. The slots bound the goroutines: at most
// MaxParallel run requests, and none waits longer than workerIdle.
func (s *Sender) spawn(f func()) {
	select {
	case s.idle <- f:
	default:
		go s.worker(f)
	}
}

func (s *Sender) worker(f func()) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		f()
		t.Reset(workerIdle)
		select {
		case f = <-s.idle:
		case <-t.C:
			return
		}
	}
}

func (s *Sender) one(ctx context.Context, ev sdk.Event) sdk.Delivery {
	if !s.c.events[ev.Type] {
		return skipped(fmt.Sprintf("event type %s is not in events", ev.Type))
	}
	var env map[string]any
	if s.c.needsData {
		// Numbers stay as written (json.Number), so a body sends them
		// unchanged, however large.
		dec := json.NewDecoder(bytes.NewReader(ev.Envelope))
		dec.UseNumber()
		if err := dec.Decode(&env); err != nil {
			return failed(Report{Reason: "the event envelope is not a JSON object"})
		}
	}
	if s.c.cond != nil {
		var jqEnv any // jq takes float64 numbers
		if err := json.Unmarshal(ev.Envelope, &jqEnv); err != nil {
			return failed(Report{Reason: "the event envelope is not a JSON object"})
		}
		ok, err := s.c.cond.match(ctx, jqEnv)
		if err != nil {
			return skipped(err.Error())
		}
		if !ok {
			return skipped("condition not met")
		}
	}
	scope := tags.Scope{Fields: env}
	endpoint := s.c.fixedURL
	var hide []redact.Secret // what this request adds to the configuration's secrets
	if endpoint == "" {
		u, err := s.c.url.Render(scope)
		if err != nil {
			return failed(Report{Reason: "url: " + refOnly(err)})
		}
		if err := checkURL(u); err != nil {
			return failed(Report{Reason: "url (rendered for this event): " + err.Error()})
		}
		endpoint = u
		hide = urlSecrets(u)
	}
	if s.o.Gone.Gone(ctx, endpoint) {
		return failed(Report{Reason: "endpoint disabled: it answered 410 Gone before"})
	}
	body := []byte(ev.Envelope)
	if plan := s.c.plan(ev.Type); !plan.envelope() {
		b, err := plan.render(env, scope)
		if err != nil {
			return failed(Report{Reason: "body: " + refOnly(err)})
		}
		body = b
	}

	rctx, cancel := context.WithTimeout(ctx, s.c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, s.c.method, endpoint, bytes.NewReader(body))
	if err != nil {
		return failed(Report{Reason: "cannot build the request (check url and method)"})
	}
	req.Header.Set("Content-Type", s.c.contentType)
	req.Header.Set("User-Agent", s.o.UserAgent)
	for _, h := range s.c.headers {
		v, err := h.tpl.Render(scope)
		if err != nil {
			return failed(Report{Reason: "headers." + h.name + ": " + refOnly(err)})
		}
		if strings.ContainsAny(v, "\r\n") {
			return failed(Report{Reason: "headers." + h.name + ": a header value cannot contain a line break"})
		}
		req.Header.Set(h.name, v)
	}
	s.signer.Sign(req.Header, ev.ID, s.o.Now().Unix(), body)

	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		rep := Report{Reason: transportError(err, rctx, ctx, s.c.timeout), LatencyMS: ms(time.Since(start))}
		var blocked *BlockedError
		if errors.As(err, &blocked) {
			return failed(rep)
		}
		return retry(rep, 0)
	}
	snippet := readCapped(resp.Body)
	resp.Body.Close()
	rep := Report{
		HTTPStatus: resp.StatusCode, LatencyMS: ms(time.Since(start)),
		Response: s.redact(snippet, hide, req.Header), Reason: strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode),
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		rep.Reason = ""
		return sdk.Delivery{Status: sdk.Delivered, Reason: rep.String()}
	case code == http.StatusGone:
		rep.Reason = "410 Gone: endpoint disabled"
		if err := s.o.Gone.MarkGone(ctx, endpoint); err != nil {
			rep.Reason += " (could not record it: " + err.Error() + ")"
		}
		return failed(rep)
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return retry(rep, retryAfter(resp.Header.Get("Retry-After"), s.o.Now()))
	case code >= 300 && code < 400:
		rep.Reason += ": redirects are not followed; point url at the final address"
		return retry(rep, 0)
	default:
		return retry(rep, 0)
	}
}

func skipped(reason string) sdk.Delivery {
	return sdk.Delivery{Status: sdk.Skipped, Reason: Report{Reason: reason}.String()}
}

func failed(r Report) sdk.Delivery { return sdk.Delivery{Status: sdk.Failed, Reason: r.String()} }

func retry(r Report, after time.Duration) sdk.Delivery {
	return sdk.Delivery{Status: sdk.Retry, RetryAfter: after, Reason: r.String()}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// transportError describes a failed request without its URL (which may
// hold a secret).
func transportError(err error, rctx, parent context.Context, timeout time.Duration) string {
	var blocked *BlockedError
	if errors.As(err, &blocked) {
		return blocked.Error()
	}
	if parent.Err() != nil {
		return "delivery cancelled"
	}
	if errors.Is(rctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no response within the timeout of %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "cannot resolve the host name: " + dns.Err
	}
	return "connection failed: " + err.Error()
}

// refOnly reports a render error without rendered values.
func refOnly(err error) string {
	var u *tags.UnknownRefError
	if errors.As(err, &u) {
		return fmt.Sprintf("%s refers to nothing in this event", u.Ref.Tag)
	}
	var r *tags.RenderError
	if errors.As(err, &r) {
		return fmt.Sprintf("%s: %v", r.Tag, r.Err)
	}
	return "cannot render the template"
}

// readCapped reads at most MaxResponse bytes of body and returns the first
// SnippetSize of them as valid UTF-8.
func readCapped(body io.Reader) string {
	var buf [SnippetSize]byte
	n, _ := io.ReadFull(body, buf[:])
	if n == SnippetSize {
		_, _ = io.CopyN(io.Discard, body, MaxResponse-SnippetSize)
	}
	b := buf[:n]
	if n == SnippetSize { // the cap may have split the last rune
		for k := 1; k < utf8.UTFMax && k <= len(b); k++ {
			if utf8.RuneStart(b[len(b)-k]) {
				if !utf8.FullRune(b[len(b)-k:]) {
					b = b[:len(b)-k]
				}
				break
			}
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// redact hides, in text a receiver sent back (some echo the request), the
// values of one request that may be secret (hide, and the signatures in
// the request's headers) and then those of the configuration, in every
// form a request carries them (package redact). Most receivers send no
// body back, so the signatures are picked out only for one that does.
func (s *Sender) redact(text string, hide []redact.Secret, sent http.Header) string {
	if text == "" {
		return text
	}
	return s.c.redact.Replace(redact.Replace(text, append(hide, signatureParts(sent)...)...))
}

// signatureParts are a signed request's signature headers and each
// signature in them, for redaction: a receiver that echoes one back must
// not put a valid signature of this body in the attempt log.
func signatureParts(h http.Header) []redact.Secret {
	var out []redact.Secret
	for _, name := range []string{verify.SignatureHeader, verify.StandardSignatureHeader} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		out = append(out, redact.Secret{Value: v, AsWritten: true})
		for _, w := range secretWords(v, 16) {
			w.AsWritten = true
			out = append(out, w)
		}
	}
	return out
}

// secretWords splits a header value at spaces, commas and "=" and keeps
// the words of at least min bytes: the token of "Bearer <token>", each
// signature of "t=…,v1=…,v1=…".
func secretWords(v string, min int) []redact.Secret {
	var out []redact.Secret
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '=' }) {
		if len(w) >= min {
			out = append(out, redact.Secret{Value: w})
		}
	}
	return out
}

// RetryAfter parses a Retry-After header: seconds or an HTTP date. It is
// at least a second and at most MaxRetryAfter; 0 means the header is
// absent or unreadable. The http step block honours it alike.
func RetryAfter(v string, now time.Time) time.Duration { return retryAfter(v, now) }

// retryAfter parses a Retry-After header: seconds or an HTTP date. It is
// at least a second (0 would mean "the host's schedule") and at most
// MaxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		d = time.Duration(min(secs, int64(MaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0
	}
	return min(max(d, time.Second), MaxRetryAfter)
}

// Report is what a Delivery's Reason holds, as JSON, so the host's attempt
// log can show the response beside the verdict.
type Report struct {
	// Reason says why in words (empty for a success).
	Reason string `json:"reason,omitempty"`
	// HTTPStatus is the response's status code (0: no response).
	HTTPStatus int `json:"http_status,omitempty"`
	// Response is the first SnippetSize bytes of the response body.
	Response string `json:"response,omitempty"`
	// LatencyMS is the request's duration in milliseconds.
	LatencyMS float64 `json:"latency_ms,omitempty"`
}

// String encodes the report as JSON.
func (r Report) String() string {
	b, _ := jsonvalue.Marshal(r)
	return string(b)
}

// memoryGone remembers 410 answers for the life of a Sender.
type memoryGone struct {
	mu    sync.Mutex
	known map[string]bool
}

func (g *memoryGone) Gone(_ context.Context, endpoint string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.known[endpoint]
}

func (g *memoryGone) MarkGone(_ context.Context, endpoint string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.known[endpoint] = true
	return nil
}
