package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/conformance"
	"github.com/paperflow/paperflow/plugins/webhook/verify"
)

func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the block binary")
	}
	conformance.Run(t, conformance.Build(t, "."),
		conformance.Case{Config: `{"url":"http://127.0.0.1:9/hook","allow_private":true}`},
		conformance.Case{Config: `{"url":"https://example.com/{{eventType}}","method":"PUT","headers":{"X-Env":"test"},` +
			`"events":["SIGNATURES_COMPLETED"],"condition":{"any":[".data.documents | length > 0"]},"body":{"id":"{{eventId}}","n":1},` +
			`"secrets":["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","old"],"timeout":"3s","retry":["1s","1m"]}`},
		conformance.Case{Config: `{"url":"https://example.com/hook","condition":{"type":"JQ","expressions":[".eventType != null","true"],"combinator":"or"},` +
			`"body":{"type":"#event_type","n":"#data.recipients.0.order","list":["{{eventId}}",1,true,null]},` +
			`"bodies":{"EMAILS_CREATED":{"to":"#data.emails.0.to"},"SIGNATURES_COMPLETED":"{\"id\": \"{{eventId}}\"}"},"headers":{"X-Event":"#event_type"}}`},
		conformance.Case{Config: `{"url":"https://example.com/hook","body_template":"#event_type for {{metadata.item_id}}","content_type":"text/plain; charset=utf-8"}`},
	)
}

func TestConfigureErrors(t *testing.T) {
	for with, want := range map[string]string{
		`{"url":"http://x","condition":{"all":[".a | nosuchfn"]}}`: `condition.all[0]: jq expression ".a | nosuchfn"`,
		`{"url":"http://x","events":["NOPE"]}`:                     `unknown event type "NOPE"`,
		`{"url":"http://x","extra":1}`:                             `unknown field "extra"`,
		`{"url":"mailto:x@y"}`:                                     "http:// or https://",
	} {
		err := (&Block{}).Configure(context.Background(), sdk.Config{BlockID: "notify", With: json.RawMessage(with)})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "block notify") {
			t.Errorf("%s: got %v, want %q", with, err, want)
		}
	}
	badAllow := map[string]string{sdk.SettingWebhookAllow: "not-a-cidr"}
	if err := (&Block{}).Configure(context.Background(), sdk.Config{With: json.RawMessage(`{"url":"http://x"}`), Settings: badAllow}); err == nil || !strings.Contains(err.Error(), "PAPERFLOW_WEBHOOK_ALLOW") {
		t.Errorf("bad allow-list: %v", err)
	}
}

// loopback is the host setting that lets the block reach test servers.
var loopback = map[string]string{sdk.SettingWebhookAllow: "127.0.0.1/32"}

// TestInProcess runs the block the way the protocol does, without a
// process: the allow-list comes from the host's settings.
func TestInProcess(t *testing.T) {
	var got http.Header
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r.Header, must(io.ReadAll(r.Body))
	}))
	defer srv.Close()
	b := &Block{}
	if err := b.Configure(context.Background(), sdk.Config{With: json.RawMessage(`{"url":"` + srv.URL + `","secret":"s"}`), Settings: loopback}); err != nil {
		t.Fatal(err)
	}
	env := `{"eventId":"e1","eventType":"EMAILS_CREATED","data":{},"metadata":{}}`
	d := b.Deliver(context.Background(), []sdk.Event{{ID: "e1", Type: "EMAILS_CREATED", Envelope: json.RawMessage(env), Attempt: 1}})
	if d[0].Status != sdk.Delivered {
		t.Fatalf("%+v", d[0])
	}
	if string(body) != env || (verify.Verifier{Secrets: []string{"s"}}).Verify(got, body) != nil {
		t.Errorf("body %s or signature wrong", body)
	}
}

// TestFailingEndpointKeepsSecretsOut checks that what a failed delivery
// reports (the Reason the host keeps in its attempt log and logs) holds no
// secret of the configuration and no signature, whatever the endpoint
// echoes back.
func TestFailingEndpointKeepsSecretsOut(t *testing.T) {
	const (
		signing  = "whsec_c2lnbmluZy1zZWNyZXQtZm9yLXRoZS10ZXN0"
		bearer   = "tok_3f9a7c1e5b2d4f60a8"
		queryKey = "qk_77aa11bb22cc33dd"
		pathKey  = "XyZ0123456789abcdefGHIJ"
		password = "pw-Hunter2-secret"
	)
	var mu sync.Mutex
	var sent []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, r.Header.Clone())
		mu.Unlock()
		switch r.URL.Query().Get("echo") {
		case "headers":
			w.WriteHeader(http.StatusBadRequest)
			_ = r.Header.Write(w)
		case "token":
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid token `+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+`"}`)
		case "url":
			w.WriteHeader(http.StatusNotFound)
			u, p, _ := r.BasicAuth()
			_, _ = io.WriteString(w, "no hook at "+r.URL.String()+" for "+u+":"+p)
		case "signature":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "bad signature "+r.Header.Get("X-Webhook-Signature")+" / "+r.Header.Get("Webhook-Signature"))
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, c := range []struct{ name, url string }{
		{"endpoint echoes every header", "http://" + host + "/hook?echo=headers"},
		{"endpoint echoes the bearer token", "http://" + host + "/hook?echo=token"},
		{"endpoint echoes the URL", "http://user:" + password + "@" + host + "/services/" + pathKey + "?echo=url&key=" + queryKey},
		{"endpoint echoes the signatures", "http://" + host + "/hook?echo=signature"},
		{"endpoint unreachable", "http://user:" + password + "@127.0.0.1:9/services/" + pathKey + "?key=" + queryKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			with, _ := json.Marshal(map[string]any{
				"url": c.url, "secret": signing, "timeout": "2s",
				"headers": map[string]string{"Authorization": "Bearer " + bearer},
			})
			b := &Block{}
			if err := b.Configure(context.Background(), sdk.Config{BlockID: "notify", With: with, Settings: loopback}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			sent = nil
			mu.Unlock()
			env := `{"eventId":"e1","eventType":"EMAILS_CREATED","data":{},"metadata":{}}`
			d := b.Deliver(context.Background(), []sdk.Event{{ID: "e1", Type: "EMAILS_CREATED", Envelope: json.RawMessage(env), Attempt: 1}})
			if d[0].Status == sdk.Delivered {
				t.Fatalf("delivered: %+v", d[0])
			}
			secrets := []string{signing, bearer, queryKey, pathKey, password}
			mu.Lock()
			for _, h := range sent {
				for _, name := range []string{"X-Webhook-Signature", "Webhook-Signature"} {
					v := h.Get(name)
					secrets = append(secrets, v)
					for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '=' }) {
						if len(part) >= 40 {
							secrets = append(secrets, part)
						}
					}
				}
			}
			mu.Unlock()
			for _, s := range secrets {
				if s != "" && strings.Contains(d[0].Reason, s) {
					t.Errorf("the reason shows %q:\n%s", s, d[0].Reason)
				}
			}
			if c.name != "endpoint unreachable" && !strings.Contains(d[0].Reason, "[redacted]") {
				t.Errorf("nothing redacted; did the endpoint echo? %s", d[0].Reason)
			}
		})
	}
}

// TestConfigureErrorsKeepSecretsOut checks that a configuration the block
// refuses is reported by key, not by a value that may be a resolved secret.
func TestConfigureErrorsKeepSecretsOut(t *testing.T) {
	const secret = "s3cr3t-Value-0123456789"
	for _, with := range []map[string]any{
		{"url": "ftp://user:" + secret + "@example.com/"},
		{"url": "https://example.com/?key=" + secret, "method": "GET"},
		{"url": "https://example.com/", "headers": map[string]string{"X-Key": secret + "{{"}},
		{"url": "https://example.com/", "secrets": []string{secret + "{{#if}}"}},
		{"url": "https://example.com/", "timeout": secret},
		{"url": "https://example.com/", "retry": []string{secret}},
		{"url": "https://example.com/" + secret + "{{nope", "secret": secret},
	} {
		raw, _ := json.Marshal(with)
		err := (&Block{}).Configure(context.Background(), sdk.Config{BlockID: "notify", With: raw})
		if err == nil {
			t.Errorf("%s: accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
