package websend

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/webhook/verify"
)

const envelope = `{"eventId":"e1","eventType":"DOCUMENTS_CREATED","data":{"documents":[{"id":"d1","url":"http://x/d1","name":"Invoice 1.pdf","mimetype":"application/pdf"}]},"metadata":{"workflow":"invoices","run_id":"r1","item_id":"3","block_id":"docs","created_at":"2026-01-01T00:00:00Z"}}`

func event(id, typ string) sdk.Event {
	return sdk.Event{ID: id, Type: typ, Envelope: json.RawMessage(strings.Replace(envelope, `"DOCUMENTS_CREATED"`, `"`+typ+`"`, 1)), Attempt: 1}
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// receiver records requests and answers with reply.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []*http.Request
	bodys [][]byte
}

func newReceiver(t *testing.T, reply http.HandlerFunc) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		r.bodys = append(r.bodys, body)
		r.mu.Unlock()
		if reply != nil {
			reply(w, req)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func newSender(t *testing.T, cfg Config, o Options) *Sender {
	t.Helper()
	if o.Allow == nil {
		o.Allow = loopback
	}
	s, err := New(cfg, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func report(t *testing.T, d sdk.Delivery) Report {
	t.Helper()
	var r Report
	if err := json.Unmarshal([]byte(d.Reason), &r); err != nil {
		t.Fatalf("reason %q is not a report: %v", d.Reason, err)
	}
	return r
}

func TestDeliverSignedEnvelope(t *testing.T) {
	rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "thanks") })
	secret := verify.GenerateSecret()
	s := newSender(t, Config{URL: rcv.URL + "/hook", Secrets: []string{secret, "old-secret"}}, Options{})
	evs := []sdk.Event{event("e1", "DOCUMENTS_CREATED"), event("e2", "EMAILS_CREATED"), event("e3", "SIGNATURES_DECLINED")}
	out := s.Deliver(context.Background(), evs)
	if out[0].Status != sdk.Delivered || out[1].Status != sdk.Delivered {
		t.Fatalf("deliveries: %+v", out)
	}
	if out[2].Status != sdk.Skipped {
		t.Errorf("SIGNATURES_DECLINED is not a default type: got %+v", out[2])
	}
	if r := report(t, out[0]); r.HTTPStatus != 200 || r.Response != "thanks" || r.LatencyMS <= 0 {
		t.Errorf("report %+v", r)
	}
	if rcv.count() != 2 {
		t.Fatalf("receiver got %d requests", rcv.count())
	}
	for i, req := range rcv.reqs {
		if string(rcv.bodys[i]) != string(evs[0].Envelope) && string(rcv.bodys[i]) != string(evs[1].Envelope) {
			t.Errorf("body is not the envelope as published: %s", rcv.bodys[i])
		}
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("method %s, content type %s", req.Method, req.Header.Get("Content-Type"))
		}
		for _, sec := range []string{secret, "old-secret"} {
			if err := (verify.Verifier{Secrets: []string{sec}}).Verify(req.Header, rcv.bodys[i]); err != nil {
				t.Errorf("signature with %s: %v", sec[:3], err)
			}
			h := req.Header.Clone()
			h.Del(verify.SignatureHeader)
			if err := (verify.Verifier{Secrets: []string{sec}}).Verify(h, rcv.bodys[i]); err != nil {
				t.Errorf("standard signature: %v", err)
			}
		}
		if id := req.Header.Get("webhook-id"); id != "e1" && id != "e2" {
			t.Errorf("webhook-id %q is not the event id", id)
		}
	}
}

func TestMethodHeadersBodyTemplate(t *testing.T) {
	rcv := newReceiver(t, nil)
	s := newSender(t, Config{
		URL:          rcv.URL + "/{{metadata.workflow}}/{{eventType | lower}}",
		Method:       "put",
		Headers:      map[string]string{"Authorization": "Bearer token-123", "X-Item": "{{metadata.item_id}}"},
		BodyTemplate: "{{data.documents.0.name}} is ready",
		ContentType:  "text/plain",
	}, Options{})
	out := s.Deliver(context.Background(), []sdk.Event{event("e1", "DOCUMENTS_CREATED")})
	if out[0].Status != sdk.Delivered {
		t.Fatalf("%+v", out[0])
	}
	req := rcv.reqs[0]
	if req.Method != http.MethodPut || req.URL.Path != "/invoices/documents_created" {
		t.Errorf("request %s %s", req.Method, req.URL.Path)
	}
	if req.Header.Get("Authorization") != "Bearer token-123" || req.Header.Get("X-Item") != "3" || req.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("headers %v", req.Header)
	}
	if string(rcv.bodys[0]) != "Invoice 1.pdf is ready" {
		t.Errorf("body %q", rcv.bodys[0])
	}
}

func TestCondition(t *testing.T) {
	rcv := newReceiver(t, nil)
	cases := []struct {
		cond Condition
		want sdk.DeliveryStatus
	}{
		{Condition{All: []string{`.eventType == "DOCUMENTS_CREATED"`, `.data.documents | length > 0`}}, sdk.Delivered},
		{Condition{All: []string{`.eventType == "DOCUMENTS_CREATED"`, `.metadata.workflow == "other"`}}, sdk.Skipped},
		{Condition{Any: []string{`.metadata.workflow == "other"`, `.metadata.item_id == "3"`}}, sdk.Delivered},
		{Condition{Any: []string{`false`, `null`, `empty`}}, sdk.Skipped},
		{Condition{All: []string{`.data.documents[0].name | test("^Invoice")`}}, sdk.Delivered},
		{Condition{All: []string{`.eventType | tonumber`}}, sdk.Skipped}, // runtime error: skipped with a reason
	}
	for _, c := range cases {
		s := newSender(t, Config{URL: rcv.URL, Condition: &c.cond}, Options{})
		got := s.Deliver(context.Background(), []sdk.Event{event("e", "DOCUMENTS_CREATED")})[0]
		if got.Status != c.want {
			t.Errorf("%+v: got %v (%s), want %v", c.cond, got.Status, got.Reason, c.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "url: required"},
		{Config{URL: "ftp://x"}, "http:// or https://"},
		{Config{URL: "http://x", Method: "GET"}, "method"},
		{Config{URL: "http://x", Events: []string{"DOCUMENT_CREATED"}}, `unknown event type "DOCUMENT_CREATED"`},
		{Config{URL: "http://x", Condition: &Condition{All: []string{".a ==", ".b"}}}, `condition.all[0]: jq expression ".a =="`},
		{Config{URL: "http://x", Condition: &Condition{Any: []string{"undefined_fn(1)"}}}, `condition.any[0]: jq expression "undefined_fn(1)"`},
		{Config{URL: "http://x", Condition: &Condition{All: []string{"."}, Any: []string{"."}}}, "either all or any"},
		{Config{URL: "http://x", Timeout: "soon"}, "timeout"},
		{Config{URL: "http://x", Retry: []string{"1m", "later"}}, "retry[1]"},
		{Config{URL: "http://x", Headers: map[string]string{"X-Webhook-Signature": "forged"}}, "set by paperflow"},
		{Config{URL: "http://x", Body: "{{#if x}}"}, "body: 1:1"},
		{Config{URL: "http://x/{{ .secrets.TOKEN }}"}, "host resolves secrets"},
		{Config{URL: "http://x", Secret: "{{eventId}}"}, "cannot use envelope fields"},
	}
	for _, c := range cases {
		_, err := New(c.cfg, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error with %q", c.cfg, err, c.want)
		}
	}
	// Values that may be secrets never appear in errors.
	_, err := New(Config{URL: "gopher://user:pa55word@x/?token=supersecret", Secret: "{{ broken", Timeout: "hush-secret"}, Options{})
	for _, leak := range []string{"pa55word", "supersecret", "hush-secret"} {
		if err == nil || strings.Contains(err.Error(), leak) {
			t.Errorf("error %v leaks %q", err, leak)
		}
	}
	if _, err := DecodeConfig([]byte(`{"url":"http://x","bogus":1}`)); err == nil {
		t.Error("unknown key accepted")
	}
}

func TestResponses(t *testing.T) {
	var hits atomic.Int32
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/gone":
			w.WriteHeader(http.StatusGone)
		case "/busy":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/maintenance":
			w.Header().Set("Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/broken":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, strings.Repeat("é", 5000)) // longer than the snippet; multi-byte at the cut
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/elsewhere":
			t.Error("a redirect was followed")
		case "/bad":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, "you sent Authorization: "+r.Header.Get("Authorization"))
		}
	})
	cases := []struct {
		path   string
		status sdk.DeliveryStatus
		after  time.Duration
		reason string
	}{
		{"/gone", sdk.Failed, 0, "410 Gone: endpoint disabled"},
		{"/busy", sdk.Retry, 7 * time.Second, "429"},
		{"/maintenance", sdk.Retry, 89 * time.Second, "503"},
		{"/broken", sdk.Retry, 0, "500"},
		{"/moved", sdk.Retry, 0, "redirects are not followed"},
		{"/bad", sdk.Retry, 0, "400"},
	}
	for _, c := range cases {
		gone := &mapGone{m: map[string]bool{}}
		s := newSender(t, Config{URL: rcv.URL + c.path, Headers: map[string]string{"Authorization": "Bearer very-secret-token"}}, Options{Gone: gone})
		d := s.Deliver(context.Background(), []sdk.Event{event("e", "DOCUMENTS_CREATED")})[0]
		r := report(t, d)
		if d.Status != c.status || !strings.Contains(r.Reason, c.reason) {
			t.Errorf("%s: got %v %q, want %v %q", c.path, d.Status, r.Reason, c.status, c.reason)
		}
		if c.after > 0 && (d.RetryAfter < c.after-2*time.Second || d.RetryAfter > c.after+time.Second) {
			t.Errorf("%s: retry after %s, want about %s", c.path, d.RetryAfter, c.after)
		}
		if len(r.Response) > SnippetSize || strings.ContainsRune(r.Response, '\uFFFD') {
			t.Errorf("%s: snippet of %d bytes, or a cut rune: %q", c.path, len(r.Response), r.Response)
		}
		if strings.Contains(d.Reason, "very-secret-token") {
			t.Errorf("%s: reason leaks a header value: %s", c.path, d.Reason)
		}
		if c.path == "/gone" {
			before := hits.Load()
			d := s.Deliver(context.Background(), []sdk.Event{event("e2", "DOCUMENTS_CREATED")})[0]
			if d.Status != sdk.Failed || hits.Load() != before {
				t.Errorf("after 410 the endpoint was called again (%v)", d.Status)
			}
		}
	}
}

type mapGone struct {
	mu sync.Mutex
	m  map[string]bool
}

func (g *mapGone) Gone(_ context.Context, e string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[e]
}

func (g *mapGone) MarkGone(_ context.Context, e string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.m[e] = true
	return nil
}

func TestTimeoutOfAHangingReceiver(t *testing.T) {
	release := make(chan struct{})
	rcv := newReceiver(t, func(http.ResponseWriter, *http.Request) { <-release })
	defer close(release)
	s := newSender(t, Config{URL: rcv.URL, Timeout: "150ms"}, Options{})
	start := time.Now()
	d := s.Deliver(context.Background(), []sdk.Event{event("e", "DOCUMENTS_CREATED")})[0]
	if d.Status != sdk.Retry || !strings.Contains(report(t, d).Reason, "no response within the timeout of 150ms") {
		t.Errorf("got %v %s", d.Status, d.Reason)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %s", el)
	}
}

func TestPrivateAddressesRefused(t *testing.T) {
	rcv := newReceiver(t, nil)
	port := rcv.URL[strings.LastIndex(rcv.URL, ":"):]
	for _, u := range []string{rcv.URL, "http://localhost" + port, "http://[::ffff:127.0.0.1]" + port} {
		s := newSender(t, Config{URL: u + "/?token=hidden-value"}, Options{Allow: []netip.Prefix{}})
		d := s.Deliver(context.Background(), []sdk.Event{event("e", "DOCUMENTS_CREATED")})[0]
		if d.Status != sdk.Failed || !strings.Contains(d.Reason, "loopback address") {
			t.Errorf("%s: got %v %s", u, d.Status, d.Reason)
		}
		if strings.Contains(d.Reason, "hidden-value") {
			t.Errorf("reason leaks the URL: %s", d.Reason)
		}
	}
	if rcv.count() != 0 {
		t.Fatalf("a refused address was reached %d times", rcv.count())
	}
	// allow_private, or the host's allow-list, lets it through.
	for _, s := range []*Sender{
		newSender(t, Config{URL: rcv.URL, AllowPrivate: true}, Options{Allow: []netip.Prefix{}}),
		newSender(t, Config{URL: rcv.URL}, Options{Allow: loopback}),
	} {
		if d := s.Deliver(context.Background(), []sdk.Event{event("e", "DOCUMENTS_CREATED")})[0]; d.Status != sdk.Delivered {
			t.Errorf("allowed: %v %s", d.Status, d.Reason)
		}
	}
}

func TestAddressKinds(t *testing.T) {
	for addr, want := range map[string]string{
		"8.8.8.8": "", "2606:4700::1111": "", "93.184.216.34": "",
		"127.0.0.1": "loopback", "::1": "loopback", "10.1.2.3": "private", "172.16.0.1": "private",
		"192.168.1.1": "private", "fd00::1": "private", "169.254.169.254": "link-local", "fe80::1": "link-local",
		"0.0.0.0": "unspecified", "::": "unspecified", "0.1.2.3": "unspecified", "100.64.0.1": "private",
		"::ffff:10.0.0.1": "private", "64:ff9b::a00:1": "private", "2002:7f00:1::": "loopback", "239.1.1.1": "multicast", "224.0.0.251": "link-local",
	} {
		if got := addressKind(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
	allow, err := ParseAllow("127.0.0.1/32, 10.0.0.0/8 ::1")
	if err != nil || len(allow) != 3 {
		t.Fatalf("ParseAllow: %v %v", allow, err)
	}
	if _, err := ParseAllow("10.0.0.0/33"); err == nil {
		t.Error("bad CIDR accepted")
	}
	var be *BlockedError
	if err := CheckLiteral("localhost", false, nil); !errors.As(err, &be) {
		t.Errorf("localhost: %v", err)
	}
	if err := CheckLiteral("127.0.0.1", false, allow); err != nil {
		t.Errorf("allowed literal: %v", err)
	}
	if err := CheckLiteral("example.com", false, nil); err != nil {
		t.Errorf("a name is checked when dialled: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Now()
	for in, want := range map[string]time.Duration{
		"": 0, "0": time.Second, "30": 30 * time.Second, "-1": 0, "soon": 0, "999999999": MaxRetryAfter,
		now.Add(time.Hour).UTC().Format(http.TimeFormat): time.Hour,
	} {
		got := retryAfter(in, now)
		if got < want-time.Second || got > want {
			t.Errorf("retryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestResponseRedaction sends to a receiver that echoes the request's
// headers and the credentials it decoded: the report keeps the echo but
// no credential in any form the request carried it.
func TestResponseRedaction(t *testing.T) {
	const user, pw, token = "user", "urlpassword123", "tok_0123456789abcdef"
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		_, _ = io.WriteString(w, "Authorization: "+r.Header.Get("Authorization")+"\ncredentials: "+u+":"+p+"\nX-Token: "+r.Header.Get("X-Token"))
	})
	host := strings.TrimPrefix(rcv.URL, "http://")
	b64 := base64.StdEncoding.EncodeToString
	basic := "Basic " + b64([]byte(user+":"+pw))
	for _, c := range []struct {
		name string
		cfg  Config
		gone []string
	}{
		{"URL user info", Config{URL: "http://" + user + ":" + pw + "@" + host + "/hook"}, []string{pw, basic[6:]}},
		{"URL user info, rendered per event", Config{URL: "http://" + user + ":" + pw + "@" + host + "/{{metadata.workflow}}"}, []string{pw, basic[6:]}},
		{"Authorization header with Basic credentials", Config{URL: rcv.URL, Headers: map[string]string{"Authorization": basic}}, []string{pw, basic[6:]}},
		{"a token header, echoed", Config{URL: rcv.URL, Headers: map[string]string{"X-Token": token}}, []string{token}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newSender(t, c.cfg, Options{}).Deliver(context.Background(), []sdk.Event{event("e1", "DOCUMENTS_CREATED")})
			rep := report(t, d[0])
			if !strings.Contains(rep.Response, "Authorization:") || !strings.Contains(rep.Response, "[redacted]") {
				t.Fatalf("the echo was not kept, or nothing was redacted: %q", rep.Response)
			}
			for _, g := range c.gone {
				if strings.Contains(rep.Response, g) {
					t.Errorf("the response shows %q: %q", g, rep.Response)
				}
			}
		})
	}
}
