package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
			`"events":["SIGNATURES_COMPLETED"],"condition":{"any":[".data.documents | length > 0"]},"body":"{{eventId}}",` +
			`"secrets":["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","old"],"timeout":"3s","retry":["1s","1m"]}`},
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
	t.Setenv("PAPERFLOW_WEBHOOK_ALLOW", "not-a-cidr")
	if err := (&Block{}).Configure(context.Background(), sdk.Config{With: json.RawMessage(`{"url":"http://x"}`)}); err == nil || !strings.Contains(err.Error(), "PAPERFLOW_WEBHOOK_ALLOW") {
		t.Errorf("bad allow-list: %v", err)
	}
}

// TestInProcess runs the block the way the protocol does, without a
// process: the allow-list comes from the environment.
func TestInProcess(t *testing.T) {
	var got http.Header
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r.Header, must(io.ReadAll(r.Body))
	}))
	defer srv.Close()
	t.Setenv("PAPERFLOW_WEBHOOK_ALLOW", "127.0.0.1/32")
	b := &Block{}
	if err := b.Configure(context.Background(), sdk.Config{With: json.RawMessage(`{"url":"` + srv.URL + `","secret":"s"}`)}); err != nil {
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

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
