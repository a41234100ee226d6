package main

import (
	_ "embed"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk/jsonvalue"
	"github.com/paperflow/paperflow/plugins/sdk/manifest"
)

// Config is the block's `with:`, resolved by the host for each item.
type Config struct {
	// Method is GET (default without a body), POST (default with one),
	// PUT, PATCH, DELETE or HEAD.
	Method string `json:"method,omitempty"`
	// URL is the address to call: http or https.
	URL string `json:"url"`
	// Headers are added to the request.
	Headers map[string]string `json:"headers,omitempty"`
	// Query values are added to the URL's query.
	Query map[string]string `json:"query,omitempty"`
	// Body is sent as JSON when a mapping or list (a leaf that is one tag
	// keeps its value's type); a string is sent as it is, as ContentType.
	Body any `json:"body,omitempty"`
	// ContentType of a string body (default text/plain; application/json
	// for a mapping or list).
	ContentType string `json:"content_type,omitempty"`
	// Auth adds credentials.
	Auth *Auth `json:"auth,omitempty"`
	// Timeout bounds one attempt (default 10s).
	Timeout string `json:"timeout,omitempty"`
	// Retries after the first attempt on 429, 5xx and network errors
	// (default 3).
	Retries *int `json:"retries,omitempty"`
	// RateLimit is the most requests per second to one host (0: none).
	RateLimit float64 `json:"rate_limit,omitempty"`
	// Expect lists the statuses that succeed (default any 2xx).
	Expect []int `json:"expect,omitempty"`
	// MaxResponse is the largest response body read, in bytes (default
	// 1 MiB); a longer one fails the item.
	MaxResponse int64 `json:"max_response,omitempty"`
	// AllowPrivate permits private, loopback and link-local addresses.
	AllowPrivate bool `json:"allow_private,omitempty"`
}

// Auth is one way to authenticate.
type Auth struct {
	// Bearer sends Authorization: Bearer <token>.
	Bearer string `json:"bearer,omitempty"`
	// Basic sends HTTP Basic credentials.
	Basic *BasicAuth `json:"basic,omitempty"`
	// HMAC signs the request body as webhooks are signed:
	// X-Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>,
	// plus the Standard Webhooks headers.
	HMAC string `json:"hmac,omitempty"`
}

// BasicAuth is a user name and password.
type BasicAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Defaults.
const (
	defaultTimeout     = 10 * time.Second
	maxTimeout         = 5 * time.Minute
	defaultRetries     = 3
	maxRetries         = 10
	defaultMaxResponse = 1 << 20
	// maxRetryWait is the longest Retry-After the block waits for itself;
	// beyond it the item fails retryably and the host tries it later.
	maxRetryWait = time.Minute
)

// blockJSON is the block's manifest: its name, kind, description and the
// JSON Schema of its `with:`, Config.
//
//go:embed block.json
var blockJSON []byte

// descriptor is what Describe reports.
var descriptor = manifest.MustParse(blockJSON, version)

// request is one item's checked configuration.
type request struct {
	method      string
	url         string
	headers     http.Header
	body        []byte
	contentType string
	timeout     time.Duration
	retries     int
	expect      []int
	maxResponse int64
	hmac        string
}

// check turns a resolved configuration into a request. Its errors name the
// key, never a value (which may hold a secret).
func check(c Config, body any) (request, error) {
	r := request{method: strings.ToUpper(c.Method), timeout: defaultTimeout, retries: defaultRetries, expect: c.Expect, maxResponse: defaultMaxResponse}
	var errs []error
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		errs = append(errs, errors.New("url: not a valid URL"))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, errors.New("url: want an http:// or https:// URL"))
	case u.Hostname() == "":
		errs = append(errs, errors.New("url: the URL has no host"))
	default:
		if len(c.Query) > 0 {
			q := u.Query()
			keys := make([]string, 0, len(c.Query))
			for k := range c.Query {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				q.Add(k, c.Query[k])
			}
			u.RawQuery = q.Encode()
		}
		r.url = u.String()
	}
	switch body := body.(type) {
	case nil:
	case string:
		r.body, r.contentType = []byte(body), "text/plain; charset=utf-8"
	default:
		raw, err := jsonvalue.Marshal(body)
		if err != nil {
			errs = append(errs, fmt.Errorf("body: %v", err))
		}
		r.body, r.contentType = raw, "application/json"
	}
	if c.ContentType != "" {
		if _, _, err := mime.ParseMediaType(c.ContentType); err != nil {
			errs = append(errs, errors.New("content_type: not a media type such as text/plain"))
		}
		r.contentType = c.ContentType
	}
	switch r.method {
	case "":
		r.method = http.MethodGet
		if r.body != nil {
			r.method = http.MethodPost
		}
	case http.MethodGet, http.MethodHead:
		if r.body != nil {
			errs = append(errs, fmt.Errorf("body: a %s request has no body; use POST, PUT or PATCH", r.method))
		}
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		errs = append(errs, errors.New("method: want GET, POST, PUT, PATCH, DELETE or HEAD"))
	}
	r.headers = http.Header{}
	for name, v := range c.Headers {
		if strings.ContainsAny(v, "\r\n") {
			errs = append(errs, fmt.Errorf("headers.%s: a header value cannot contain a line break", name))
			continue
		}
		r.headers.Set(name, v)
	}
	if a := c.Auth; a != nil {
		switch {
		case a.Bearer != "":
			r.headers.Set("Authorization", "Bearer "+a.Bearer)
		case a.Basic != nil:
			req := http.Request{Header: http.Header{}}
			req.SetBasicAuth(a.Basic.Username, a.Basic.Password)
			r.headers.Set("Authorization", req.Header.Get("Authorization"))
		case a.HMAC != "":
			r.hmac = a.HMAC
		default:
			errs = append(errs, errors.New("auth: give bearer, basic or hmac, with a value"))
		}
	}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 || d > maxTimeout {
			errs = append(errs, fmt.Errorf("timeout: want a duration such as 10s, at most %s", maxTimeout))
		}
		r.timeout = d
	}
	if c.Retries != nil {
		if *c.Retries < 0 || *c.Retries > maxRetries {
			errs = append(errs, fmt.Errorf("retries: want 0 to %d", maxRetries))
		}
		r.retries = *c.Retries
	}
	if c.MaxResponse > 0 {
		r.maxResponse = c.MaxResponse
	}
	return r, errors.Join(errs...)
}

// succeeds reports whether status is one the configuration expects.
func (r request) succeeds(status int) bool {
	if len(r.expect) == 0 {
		return status >= 200 && status < 300
	}
	return slices.Contains(r.expect, status)
}
