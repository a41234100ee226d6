// Package websend delivers paperflow events over HTTP: one signed request
// per event, with the rules of DESIGN.md's "Webhook delivery". It belongs to
// neither the webhook block nor the host: the webhook block (plugins/webhook)
// and the host's webhook subscriptions (host/delivery) both import it, so a
// subscription is sent exactly as a block would send it, and the host links
// no block's code. Receivers check signatures with plugins/webhook/verify.
//
// A Sender decides, per event, what the host should do next (sdk.Delivery):
// Delivered on a 2xx answer; Retry on a network error, a timeout, a 3xx (no
// redirect is followed) or any other 4xx/5xx, with RetryAfter set from a
// Retry-After header on 429 and 503; Failed on 410 Gone (and the endpoint is
// remembered as gone) or when the address is refused; Skipped when the event
// type or the condition does not match. Retry schedules and dead letters are
// the host's business (host/delivery).
//
// Delivery.Reason is a JSON object (see Report) with the HTTP status, a
// bounded snippet of the response and the request's latency, which the host
// writes to its attempt log. Reasons never contain the URL, the headers or a
// secret.
package websend

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/events"
	"github.com/paperflow/paperflow/plugins/sdk/redact"
	"github.com/paperflow/paperflow/plugins/sdk/retries"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// EventTypes are the event types a webhook can carry: every type the
// schemas define (plugins/sdk/events is generated from them).
var EventTypes = events.Types

// DefaultEvents are the types sent when a configuration names none: the
// main ones.
var DefaultEvents = events.MainTypes

// DefaultTimeout bounds one request when the configuration sets none.
const DefaultTimeout = 10 * time.Second

// MaxTimeout is the longest timeout a configuration may set.
const MaxTimeout = 5 * time.Minute

// Config is the `with:` of the webhook block, with {{ .secrets.NAME }}
// already resolved by the host. url, headers, bodies and the secrets are tag
// templates over the event envelope ({{eventType}}, {{data.documents.0.url}},
// {{metadata.workflow}}); a plain string is used as is. Headers and bodies
// also take the `#name` variables of Portal's message templates
// (PortalVariables). Its JSON Schema is in the webhook block's manifest,
// plugins/webhook/block.json.
type Config struct {
	// URL is where events are sent; http or https.
	URL string `json:"url"`
	// Method is POST (default), PUT, PATCH or DELETE.
	Method string `json:"method,omitempty"`
	// Headers are added to every request.
	Headers map[string]string `json:"headers,omitempty"`
	// Events are the event types to send (DefaultEvents when empty).
	Events []string `json:"events,omitempty"`
	// Condition is an optional jq test over the envelope.
	Condition *Condition `json:"condition,omitempty"`
	// Body replaces the default body (the envelope exactly as published).
	// A mapping or list is encoded as JSON, its string leaves rendered as
	// templates (a leaf that is one tag keeps its value's JSON type); a
	// string is JSON text whose inserted values are escaped.
	Body any `json:"body,omitempty"`
	// Bodies gives a body per event type; a type without one sends Body,
	// or the envelope when there is no Body.
	Bodies map[string]any `json:"bodies,omitempty"`
	// BodyTemplate is a body in another format than JSON, sent as
	// ContentType, which it requires; values are inserted as they are.
	BodyTemplate string `json:"body_template,omitempty"`
	// ContentType is the body's media type (default application/json).
	ContentType string `json:"content_type,omitempty"`
	// Secret signs every request; Secrets holds several during a rotation.
	Secret  string   `json:"secret,omitempty"`
	Secrets []string `json:"secrets,omitempty"`
	// Timeout bounds one request, as a Go duration ("10s").
	Timeout string `json:"timeout,omitempty"`
	// Retry lists the waits of the host's retry policy for this sink, e.g.
	// ["1m", "5m"] (SinkPolicy); the sender only checks it.
	Retry []string `json:"retry,omitempty"`
	// AllowPrivate permits private, loopback and link-local addresses.
	AllowPrivate bool `json:"allow_private,omitempty"`
}

// Condition joins jq expressions: every one of All, or at least one of
// Any, must be true (neither false nor null) for the event to be sent.
//
// Port's shape is accepted as an alias, so a condition copied from a Port
// webhook action works unchanged: {type: JQ, expressions: [...],
// combinator: and|or} is {all: [...]} or {any: [...]}.
type Condition struct {
	All []string `json:"all,omitempty"`
	Any []string `json:"any,omitempty"`
	// Type is "JQ" in Port's shape.
	Type string `json:"type,omitempty"`
	// Expressions are Port's jq expressions, joined by Combinator.
	Expressions []string `json:"expressions,omitempty"`
	// Combinator is "and" (the default) or "or".
	Combinator string `json:"combinator,omitempty"`
}

// CheckCondition compiles c and reports what is wrong with it, for
// callers that store a condition before any Sender uses it.
func CheckCondition(c Condition) error {
	_, err := compileCondition(c)
	return err
}

// DecodeConfig parses a `with:` strictly: an unknown key is an error.
func DecodeConfig(raw []byte) (Config, error) {
	var c Config
	if len(raw) == 0 {
		return c, errors.New("url: required")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	dec.UseNumber() // a number in a body is sent as written
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("with: %w", err)
	}
	return c, nil
}

// reserved headers are set by the sender and may not be configured.
var reserved = []string{"X-Webhook-Signature", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature", "Host", "Content-Length", "Transfer-Encoding", "Connection"}

// compiled is a checked configuration.
type compiled struct {
	url      *tags.Template
	fixedURL string // when url has no tags
	method   string
	headers  []header
	body     *bodyPlan            // for types without their own; nil: the envelope
	bodies   map[string]*bodyPlan // per event type
	// contentType is the body's media type.
	contentType string
	secrets     []string
	events      map[string]bool
	cond        *condition
	timeout     time.Duration
	needsData   bool // templates read the envelope
	// redact hides the values of the configuration that may be secret,
	// in every form a request carries them.
	redact *strings.Replacer
}

type header struct {
	name string
	tpl  *tags.Template
}

// compile checks c. Its errors name the key, never the value, which may
// hold a resolved secret.
func compile(c Config) (*compiled, error) {
	out := &compiled{events: map[string]bool{}}
	var errs []error
	var hide []redact.Secret
	tpl := func(where, src string) *tags.Template {
		t, err := tags.Parse(src)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", where, syntaxOnly(err)))
			return nil
		}
		for _, r := range t.Refs() {
			switch r.Kind {
			case tags.RefSecret:
				errs = append(errs, fmt.Errorf("%s: %s: the host resolves secrets before the block starts; this one was not resolved", where, r.Tag))
			case tags.RefBlock:
				errs = append(errs, fmt.Errorf("%s: %s: a sink sees events, not block outputs; use envelope fields such as {{data.documents.0.url}}", where, r.Tag))
			case tags.RefField:
				out.needsData = true
			}
		}
		return t
	}

	if strings.TrimSpace(c.URL) == "" {
		errs = append(errs, errors.New("url: required"))
	} else if out.url = tpl("url", c.URL); out.url != nil && len(out.url.Refs()) == 0 {
		out.fixedURL = c.URL
		if err := checkURL(c.URL); err != nil {
			errs = append(errs, fmt.Errorf("url: %w", err))
		}
		hide = append(hide, urlSecrets(c.URL)...)
	}

	out.method = strings.ToUpper(c.Method)
	switch out.method {
	case "":
		out.method = http.MethodPost
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		errs = append(errs, errors.New("method: want POST, PUT, PATCH or DELETE"))
	}

	names := make([]string, 0, len(c.Headers))
	for name := range c.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		canon := http.CanonicalHeaderKey(name)
		if !validHeaderName(name) {
			errs = append(errs, fmt.Errorf("headers: %q is not a valid header name", name))
			continue
		}
		if slices.Contains(reserved, canon) {
			errs = append(errs, fmt.Errorf("headers: %s is set by paperflow and cannot be configured", canon))
			continue
		}
		if canon == "Content-Type" {
			out.contentType = c.Headers[name]
		}
		if t := tpl("headers."+name, portalVariables(c.Headers[name])); t != nil {
			out.headers = append(out.headers, header{name: canon, tpl: t})
		}
		if len(c.Headers[name]) >= 6 {
			// The whole value, and its words: a receiver may echo only
			// the token of "Bearer <token>".
			hide = append(hide, redact.Secret{Value: c.Headers[name]})
			hide = append(hide, secretWords(c.Headers[name], 8)...)
			if user, pass, ok := basicCredentials(c.Headers[name]); ok && len(pass) >= 4 {
				// A receiver may echo the credentials it decoded.
				hide = append(hide, redact.Secret{Value: pass, User: user})
			}
		}
	}

	if err := out.compileBodies(c, tpl); err != nil {
		errs = append(errs, err)
	}

	secrets := c.Secrets
	if c.Secret != "" {
		secrets = append([]string{c.Secret}, secrets...)
	}
	for i, s := range secrets {
		t := tpl(fmt.Sprintf("secrets[%d]", i), s)
		if t == nil {
			continue
		}
		if len(t.Refs()) > 0 {
			errs = append(errs, fmt.Errorf("secrets[%d]: a signing secret cannot use envelope fields", i))
			continue
		}
		v, _ := t.Render(tags.Scope{})
		if v == "" {
			errs = append(errs, fmt.Errorf("secrets[%d]: empty", i))
			continue
		}
		out.secrets = append(out.secrets, v)
		hide = append(hide, redact.Secret{Value: v})
	}

	events := c.Events
	if len(events) == 0 {
		events = DefaultEvents
	}
	for _, e := range events {
		if !slices.Contains(EventTypes, e) {
			errs = append(errs, fmt.Errorf("events: unknown event type %q: want one of %s", e, strings.Join(EventTypes, ", ")))
		}
		out.events[e] = true
	}

	if c.Condition != nil {
		cond, err := compileCondition(*c.Condition)
		if err != nil {
			errs = append(errs, err)
		}
		out.cond = cond
	}

	out.timeout = DefaultTimeout
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		switch {
		case err != nil:
			errs = append(errs, errors.New("timeout: not a duration such as 10s"))
		case d <= 0 || d > MaxTimeout:
			errs = append(errs, fmt.Errorf("timeout: want more than 0 and at most %s", MaxTimeout))
		default:
			out.timeout = d
		}
	}
	if _, err := retries.ParseWaits(c.Retry); err != nil {
		errs = append(errs, err)
	}
	out.redact = redact.NewReplacer(hide...)
	return out, errors.Join(errs...)
}

// compileBodies checks and compiles body, bodies, body_template and
// content_type.
func (out *compiled) compileBodies(c Config, tpl parseTemplate) error {
	var errs []error
	switch {
	case out.contentType != "" && c.ContentType != "":
		errs = append(errs, errors.New("content_type: the Content-Type header is set under headers too; keep one"))
	case c.ContentType != "":
		if _, _, err := mime.ParseMediaType(c.ContentType); err != nil {
			errs = append(errs, errors.New("content_type: not a media type such as text/plain"))
		}
		out.contentType = c.ContentType
	}
	explicit := out.contentType != ""
	if !explicit {
		out.contentType = "application/json"
	}
	asJSON := isJSON(out.contentType)

	if c.BodyTemplate != "" {
		switch {
		case c.Body != nil || len(c.Bodies) > 0:
			errs = append(errs, errors.New("body_template: give body (or bodies) or body_template, not both"))
		case !explicit:
			errs = append(errs, errors.New("body_template: needs content_type (e.g. text/plain); for JSON write body as a YAML mapping"))
		default:
			if t := tpl("body_template", portalVariables(c.BodyTemplate)); t != nil {
				out.body = &bodyPlan{text: t, escape: asJSON}
			}
		}
		return errors.Join(errs...)
	}
	if (c.Body != nil || len(c.Bodies) > 0) && !asJSON {
		errs = append(errs, fmt.Errorf("body: is sent as JSON, but the content type is %q; for another format use body_template", out.contentType))
	}
	p, err := compileBody("body", c.Body, tpl)
	errs = append(errs, err)
	out.body = p
	types := make([]string, 0, len(c.Bodies))
	for typ := range c.Bodies {
		types = append(types, typ)
	}
	slices.Sort(types)
	for _, typ := range types {
		if !slices.Contains(EventTypes, typ) {
			errs = append(errs, fmt.Errorf("bodies: unknown event type %q: want one of %s", typ, strings.Join(EventTypes, ", ")))
			continue
		}
		p, err := compileBody("bodies."+typ, c.Bodies[typ], tpl)
		errs = append(errs, err)
		if p != nil {
			if out.bodies == nil {
				out.bodies = map[string]*bodyPlan{}
			}
			out.bodies[typ] = p
		}
	}
	return errors.Join(errs...)
}

// plan returns the body plan of an event type; nil sends the envelope.
func (c *compiled) plan(eventType string) *bodyPlan {
	if p, ok := c.bodies[eventType]; ok {
		return p
	}
	return c.body
}

// SinkPolicy is what c asks of the host that feeds its sender: the event
// types of events: and the waits of retry: (none: the host's defaults).
func (c Config) SinkPolicy() (sdk.SinkPolicy, error) {
	waits, err := retries.ParseWaits(c.Retry)
	return sdk.SinkPolicy{Events: c.Events, Retry: waits}, err
}

// quoted matches the template text a syntax error message quotes.
var quoted = regexp.MustCompile(`"[^"]*"`)

// syntaxOnly keeps a template error's position and message but not the
// template text it quotes, which may be a resolved secret.
func syntaxOnly(err error) string {
	var se *tags.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%d:%d: %s", se.Line, se.Col, quoted.ReplaceAllString(se.Msg, `"…"`))
	}
	return "invalid template"
}

// checkURL accepts absolute http and https URLs with a host.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("want an http:// or https:// URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("the URL has no host")
	}
	return nil
}

// urlSecrets lists the parts of a URL that may be secret, for redaction:
// the user info (a password with its user, whose Basic credentials the
// HTTP client sends; a user name alone when it is long enough to be an API
// key), query values, and long path segments such as the key in
// /services/T0/B0/<key>.
func urlSecrets(raw string) []redact.Secret {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []redact.Secret
	if p, ok := u.User.Password(); ok && len(p) >= 4 {
		out = append(out, redact.Secret{Value: p, User: u.User.Username()})
	} else if name := u.User.Username(); len(name) >= 16 || (ok && len(name) >= 6) {
		out = append(out, redact.Secret{Value: name})
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 20 {
			out = append(out, redact.Secret{Value: seg})
		}
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= 6 {
				out = append(out, redact.Secret{Value: v})
			}
		}
	}
	return out
}

// basicCredentials decodes an Authorization value "Basic base64(user:password)".
func basicCredentials(v string) (user, password string, ok bool) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}
