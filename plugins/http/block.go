package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	retry "github.com/sethvargo/go-retry"
	"golang.org/x/time/rate"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/jsonvalue"
	"github.com/paperflow/paperflow/plugins/sdk/retries"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
	"github.com/paperflow/paperflow/plugins/webhook/verify"
	"github.com/paperflow/paperflow/plugins/websend"
)

// parallel bounds the items of one batch called at the same time.
const parallel = 16

// callRetry is how a call that failed with 429, a 5xx or a network error is
// tried again: waits doubling from 250ms up to 10s with 10% jitter, unless
// the API asks for a Retry-After. with.retries sets its attempts.
var callRetry = retries.Policy{Initial: 250 * time.Millisecond, Multiplier: 2, Cap: 10 * time.Second, JitterPercent: 10}

// Block is the http step.
type Block struct {
	id         string
	with       json.RawMessage // with: as written, tags unresolved
	configured map[string]any  // the same, decoded
	client     *http.Client
	rateLimit  float64

	mu       sync.Mutex
	limiters map[string]*rate.Limiter // per host
}

var _ sdk.Step = (*Block)(nil)

// version is reported by Describe.
const version = "1.0.0"

// Describe implements sdk.Block: block.json and version.
func (*Block) Describe() sdk.Descriptor { return descriptor }

// Configure checks what can be checked before the items (values with tags
// are checked per item) and builds a client that follows the webhook
// block's address rules and the host's allow-list (the webhook_allow
// setting).
func (b *Block) Configure(_ context.Context, c sdk.Config) error {
	b.id, b.with = c.BlockID, c.With
	if err := json.Unmarshal(c.With, &b.configured); err != nil {
		return fmt.Errorf("block %s: with: %w", c.BlockID, err)
	}
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(c.With))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("block %s: with: %w", c.BlockID, err)
	}
	if err := checkStatic(cfg); err != nil {
		return fmt.Errorf("block %s: %w", c.BlockID, err)
	}
	allow, err := websend.ParseAllow(c.Settings[sdk.SettingWebhookAllow])
	if err != nil {
		return fmt.Errorf("block %s: %w", c.BlockID, err)
	}
	b.client = newClient(cfg.AllowPrivate, allow)
	b.rateLimit = cfg.RateLimit
	b.limiters = map[string]*rate.Limiter{}
	return nil
}

// checkStatic checks the values of cfg that hold no tag.
func checkStatic(cfg Config) error {
	fixed := cfg
	if tags.HasTags(cfg.URL) {
		fixed.URL = "https://example.com/"
	}
	for k, v := range cfg.Query {
		if tags.HasTags(v) {
			delete(fixed.Query, k)
		}
	}
	fixed.Headers = nil
	fixed.Auth = nil
	_, err := check(fixed, cfg.Body)
	return err
}

func newClient(allowPrivate bool, allow []netip.Prefix) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil, // a proxy would be the address checked, not the API
			DialContext:         websend.DialContext(allowPrivate, allow, 10*time.Second),
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: parallel,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Process calls the API once per item.
func (b *Block) Process(ctx context.Context, items []sdk.Item) []sdk.Result {
	return sdk.ProcessEach(ctx, items, parallel, b.one)
}

func (b *Block) one(ctx context.Context, it sdk.Item) sdk.Result {
	var cfg Config
	if err := it.DecodeConfig(b.with, &cfg); err != nil {
		return sdk.Result{Err: fmt.Errorf("http: %w", err)}
	}
	body, err := b.typedBody(it, cfg.Body)
	if err != nil {
		return sdk.Result{Err: fmt.Errorf("http: %w", err)}
	}
	req, err := check(cfg, body)
	if err != nil {
		return sdk.Result{Err: fmt.Errorf("http: %w", err)}
	}
	if req.hmac != "" {
		req.headers.Set("Webhook-Id", it.RunID+"."+it.ID+"."+b.id)
	}
	resp, err := b.call(ctx, req)
	if err != nil {
		return sdk.Result{Err: err}
	}
	return sdk.Result{Outputs: resp}
}

// call makes the request, retrying 429, 5xx and network errors with
// exponential backoff, or after the Retry-After the API asks for.
func (b *Block) call(ctx context.Context, r request) (map[string]any, error) {
	host := hostOf(r.url)
	what := r.method + " " + host
	var wait time.Duration // the API's Retry-After for the next attempt
	policy := callRetry
	policy.MaxAttempts = r.retries + 1
	base := policy.Backoff()
	backoff := retry.BackoffFunc(func() (time.Duration, bool) {
		next, stop := base.Next()
		if wait > 0 {
			next, wait = wait, 0
		}
		return next, stop
	})
	var out map[string]any
	var lastErr error
	err := retry.Do(ctx, backoff, func(ctx context.Context) error {
		if err := b.limiter(host).Wait(ctx); err != nil {
			return err
		}
		res, after, err := b.attempt(ctx, r, what)
		if err == nil {
			out = res
			return nil
		}
		lastErr = err
		var re *retryableError
		if !errors.As(err, &re) {
			return err
		}
		if after > maxRetryWait {
			return fmt.Errorf("%w (asked to wait %s; the host tries the item again later)", err, after.Round(time.Second))
		}
		wait = after
		return retry.RetryableError(err)
	})
	if err == nil {
		return out, nil
	}
	var re *retryableError
	if errors.As(err, &re) || errors.As(lastErr, &re) {
		return nil, sdk.Retryable(fmt.Errorf("http: %w (after %d attempts)", err, r.retries+1))
	}
	return nil, fmt.Errorf("http: %w", err)
}

// retryableError is a failure worth another attempt.
type retryableError struct{ msg string }

func (e *retryableError) Error() string { return e.msg }

// attempt makes one request. It returns the outputs, or an error and the
// Retry-After the API sent (0 when none).
func (b *Block) attempt(ctx context.Context, r request, what string) (map[string]any, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, bytes.NewReader(r.body))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: cannot build the request", what)
	}
	req.Header = r.headers.Clone()
	if r.body != nil {
		req.Header.Set("Content-Type", r.contentType)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "paperflow-http/1")
	}
	if r.hmac != "" {
		verify.NewSigner(r.hmac).Sign(req.Header, req.Header.Get("Webhook-Id"), time.Now().Unix(), r.body)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		var blocked *websend.BlockedError
		if errors.As(err, &blocked) {
			return nil, 0, fmt.Errorf("%s: %v", what, blocked)
		}
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, 0, &retryableError{fmt.Sprintf("%s: no response within %s", what, r.timeout)}
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, &retryableError{fmt.Sprintf("%s: %v", what, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, r.maxResponse+1))
	if err != nil {
		return nil, 0, &retryableError{fmt.Sprintf("%s: reading the response: %v", what, err)}
	}
	if int64(len(raw)) > r.maxResponse {
		return nil, 0, fmt.Errorf("%s: the response is larger than %d bytes (max_response); raise max_response or ask the API for less", what, r.maxResponse)
	}
	status := fmt.Sprintf("%s answered %d %s", what, resp.StatusCode, http.StatusText(resp.StatusCode))
	switch code := resp.StatusCode; {
	case r.succeeds(code):
	case code == http.StatusTooManyRequests || code >= 500:
		return nil, websend.RetryAfter(resp.Header.Get("Retry-After"), time.Now()), &retryableError{status + snippet(raw)}
	case code >= 300 && code < 400:
		return nil, 0, fmt.Errorf("%s: redirects are not followed; point url at the final address", status)
	default:
		return nil, 0, fmt.Errorf("%s, expected %s%s", status, expected(r), snippet(raw))
	}
	return outputs(resp, raw), 0, nil
}

// outputs are the block's outputs for a response: status, headers (one
// value per name, several joined by ", "), and the body as JSON (response)
// or, when it is not JSON, as text.
func outputs(resp *http.Response, raw []byte) map[string]any {
	h := make(map[string]any, len(resp.Header))
	for name, vs := range resp.Header {
		h[name] = strings.Join(vs, ", ")
	}
	out := map[string]any{"status": resp.StatusCode, "headers": h}
	if len(bytes.TrimSpace(raw)) == 0 {
		return out
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil && !dec.More() {
		out["response"] = v
		return out
	}
	out["text"] = strings.ToValidUTF8(string(raw), "\uFFFD")
	return out
}

func expected(r request) string {
	if len(r.expect) == 0 {
		return "a 2xx status"
	}
	s := make([]string, len(r.expect))
	for i, c := range r.expect {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, " or ")
}

// snippet is the start of a response body for an error message.
func snippet(raw []byte) string {
	const n = 200
	s := strings.TrimSpace(strings.ToValidUTF8(string(raw), "\uFFFD"))
	if s == "" {
		return ""
	}
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return ": " + s
}

func (b *Block) limiter(host string) *rate.Limiter {
	if b.rateLimit <= 0 {
		return rate.NewLimiter(rate.Inf, 1)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.limiters[host]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(b.rateLimit), 1)
		b.limiters[host] = l
	}
	return l
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Host
}

// typedBody is the body as the host resolved it, except that a string
// leaf written as one tag naming a field or an earlier block's output
// ("{{Amount}}", "{{blocks.crm.response.id}}") takes that value with its
// JSON type: a number stays a number.
func (b *Block) typedBody(it sdk.Item, resolved any) (any, error) {
	conf := b.configured["body"]
	switch conf.(type) {
	case map[string]any, []any:
	default:
		return resolved, nil
	}
	fields, err := it.Fields()
	if err != nil {
		return nil, err
	}
	blocks, err := it.Blocks()
	if err != nil {
		return nil, err
	}
	return typed(conf, resolved, fields, blocks), nil
}

func typed(conf, resolved any, fields, blocks map[string]any) any {
	switch c := conf.(type) {
	case map[string]any:
		r, ok := resolved.(map[string]any)
		if !ok {
			return resolved
		}
		for k, cv := range c {
			if rv, ok := r[k]; ok {
				r[k] = typed(cv, rv, fields, blocks)
			}
		}
		return r
	case []any:
		r, ok := resolved.([]any)
		if !ok || len(r) != len(c) {
			return resolved
		}
		for i := range c {
			r[i] = typed(c[i], r[i], fields, blocks)
		}
		return r
	case string:
		if v, ok := oneRef(c, fields, blocks); ok {
			return v
		}
	}
	return resolved
}

// oneRef returns the value src names when src is exactly one tag naming a
// field or a block's output, without helpers.
func oneRef(src string, fields, blocks map[string]any) (any, bool) {
	if !tags.HasTags(src) {
		return nil, false
	}
	t, err := tags.Parse(src)
	if err != nil {
		return nil, false
	}
	refs := t.Refs()
	if len(refs) != 1 || strings.TrimSpace(src) != refs[0].Tag {
		return nil, false
	}
	r := refs[0]
	inner := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(r.Tag, "{{"), "}}"))
	switch r.Kind {
	case tags.RefField:
		if inner != r.Path {
			return nil, false
		}
		if v, ok := fields[r.Path]; ok {
			return v, true
		}
		return jsonvalue.At(fields, strings.Split(r.Path, "."))
	case tags.RefBlock:
		if inner != "blocks."+r.Path {
			return nil, false
		}
		return jsonvalue.At(blocks, strings.Split(r.Path, "."))
	}
	return nil, false
}
