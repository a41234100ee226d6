package verify_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/paperflow/paperflow/plugins/webhook/verify"
)

var (
	body = []byte(`{"eventId":"abc","eventType":"DOCUMENTS_CREATED","data":{"documents":[]},"metadata":{}}`)
	now  = time.Unix(1_760_000_000, 0)
)

func fixed() time.Time { return now }

// independentV1 computes the Stripe-style signature from the rule in
// DESIGN.md, without the package.
func independentV1(secret string, ts int64, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(h, "%d.%s", ts, body)
	return hex.EncodeToString(h.Sum(nil))
}

func TestGenerateSecret(t *testing.T) {
	a, b := verify.GenerateSecret(), verify.GenerateSecret()
	if a == b {
		t.Fatal("two generated secrets are equal")
	}
	rest, ok := strings.CutPrefix(a, "whsec_")
	if !ok {
		t.Fatalf("secret %q lacks whsec_", a)
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(raw) != 32 {
		t.Fatalf("secret body: %d bytes, %v", len(raw), err)
	}
	if !bytes.Equal(verify.StandardKey(a), raw) {
		t.Error("StandardKey of a generated secret is not its decoded bytes")
	}
	if got := string(verify.StandardKey("my-own-secret")); got != "my-own-secret" {
		t.Errorf("StandardKey of a plain secret = %q", got)
	}
	if got := string(verify.StandardKey("whsec_not base64!")); got != "whsec_not base64!" {
		t.Errorf("StandardKey of a malformed whsec_ secret = %q, want it as given", got)
	}
}

func TestSignerHeadersVerify(t *testing.T) {
	gen := verify.GenerateSecret()
	for _, secrets := range [][]string{{"plain-secret"}, {gen}, {gen, "old-secret"}} {
		h := http.Header{}
		verify.NewSigner(secrets...).Sign(h, "evt-1", now.Unix(), body)
		sig := h.Get(verify.SignatureHeader)
		if strings.Count(sig, "v1=") != len(secrets) {
			t.Errorf("%s: want one v1= per secret: %s", secrets, sig)
		}
		if !strings.Contains(sig, "v1="+independentV1(secrets[0], now.Unix(), body)) {
			t.Errorf("signature %s lacks the independently computed v1", sig)
		}
		for _, sec := range secrets {
			v := verify.Verifier{Secrets: []string{sec}, Now: fixed}
			if err := v.VerifySignature(sig, body); err != nil {
				t.Errorf("VerifySignature with %d secrets: %v", len(secrets), err)
			}
			if err := v.VerifyStandard(h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature"), body); err != nil {
				t.Errorf("VerifyStandard: %v", err)
			}
			// The Standard Webhooks reference library agrees.
			wh, err := standardwebhooks.NewWebhookRaw(verify.StandardKey(sec))
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
				t.Errorf("standard-webhooks library refuses our signature: %v", err)
			}
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	const secret = "s3cret"
	h := http.Header{}
	verify.NewSigner(secret).Sign(h, "evt-1", now.Unix(), body)
	sig := h.Get(verify.SignatureHeader)
	v := verify.Verifier{Secrets: []string{secret}, Now: fixed}
	cases := []struct {
		name string
		err  error
		run  func() error
	}{
		{"changed body", verify.ErrMismatch, func() error { return v.VerifySignature(sig, append(append([]byte{}, body...), ' ')) }},
		{"wrong secret", verify.ErrMismatch, func() error {
			return verify.Verifier{Secrets: []string{"other"}, Now: fixed}.VerifySignature(sig, body)
		}},
		{"too old", verify.ErrTimestamp, func() error {
			return verify.Verifier{Secrets: []string{secret}, Now: func() time.Time { return now.Add(6 * time.Minute) }}.VerifySignature(sig, body)
		}},
		{"from the future", verify.ErrTimestamp, func() error {
			return verify.Verifier{Secrets: []string{secret}, Now: func() time.Time { return now.Add(-6 * time.Minute) }}.VerifySignature(sig, body)
		}},
		{"no secret", verify.ErrNoSecret, func() error { return verify.Verifier{}.VerifySignature(sig, body) }},
		{"no header", verify.ErrMissing, func() error { return v.Verify(http.Header{}, body) }},
		{"standard with another id", verify.ErrMismatch, func() error {
			return v.VerifyStandard("evt-2", h.Get("webhook-timestamp"), h.Get("webhook-signature"), body)
		}},
		{"standard stale", verify.ErrTimestamp, func() error {
			return v.VerifyStandard("evt-1", fmt.Sprint(now.Unix()-3600), h.Get("webhook-signature"), body)
		}},
		{"standard missing id", verify.ErrMissing, func() error {
			return v.VerifyStandard("", h.Get("webhook-timestamp"), h.Get("webhook-signature"), body)
		}},
		{"timestamp replaced", verify.ErrMismatch, func() error {
			forged := strings.Replace(sig, fmt.Sprintf("t=%d", now.Unix()), fmt.Sprintf("t=%d", now.Unix()+1), 1)
			return v.VerifySignature(forged, body)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if !errors.Is(err, c.err) {
				t.Fatalf("got %v, want %v", err, c.err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
	// A disabled tolerance accepts an old signature.
	old := verify.Verifier{Secrets: []string{secret}, Tolerance: -1, Now: func() time.Time { return now.Add(24 * time.Hour) }}
	if err := old.VerifySignature(sig, body); err != nil {
		t.Errorf("tolerance disabled: %v", err)
	}
}

func TestParseHeader(t *testing.T) {
	good := strings.Repeat("ab", 32)
	cases := []struct {
		in   string
		ts   int64
		n    int
		fail bool
	}{
		{in: "t=1,v1=" + good, ts: 1, n: 1},
		{in: " t=12 , v1=" + good + ", v1=" + good + ",v0=zzz", ts: 12, n: 2},
		{in: "v1=" + good + ",t=5", ts: 5, n: 1},
		{in: "", fail: true},
		{in: "t=1", fail: true},
		{in: "v1=" + good, fail: true},
		{in: "t=1,t=2,v1=" + good, fail: true},
		{in: "t=-1,v1=" + good, fail: true},
		{in: "t=+1,v1=" + good, fail: true},
		{in: "t=1,v1=" + good[:10], fail: true},
		{in: "t=1,v1=" + strings.Repeat("zz", 32), fail: true},
		{in: "t=1,v1", fail: true},
		{in: "t=99999999999999999999,v1=" + good, fail: true},
		{in: "t=1" + strings.Repeat(",v1="+good, 33), fail: true},
	}
	for _, c := range cases {
		sig, err := verify.ParseHeader(c.in)
		if c.fail {
			if err == nil {
				t.Errorf("ParseHeader(%q) accepted", c.in)
			}
			continue
		}
		if err != nil || sig.Timestamp != c.ts || len(sig.V1) != c.n {
			t.Errorf("ParseHeader(%q) = %d, %d sigs, %v", c.in, sig.Timestamp, len(sig.V1), err)
		}
	}
}

func TestRequest(t *testing.T) {
	secret := verify.GenerateSecret()
	v := verify.Verifier{Secrets: []string{secret}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err := v.Request(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		_, _ = w.Write(got)
	}))
	defer srv.Close()
	post := func(sign func(http.Header)) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		sign(req.Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ts := time.Now().Unix()
	if code := post(func(h http.Header) { verify.NewSigner(secret).Sign(h, "e", ts, body) }); code != 200 {
		t.Errorf("both signatures: %d", code)
	}
	if code := post(func(h http.Header) {
		verify.NewSigner(secret).Sign(h, "e", ts, body)
		h.Del(verify.SignatureHeader)
	}); code != 200 {
		t.Errorf("standard headers only: %d", code)
	}
	if code := post(func(h http.Header) {}); code != 401 {
		t.Errorf("unsigned: %d", code)
	}
	if code := post(func(h http.Header) { verify.NewSigner("wrong").Sign(h, "e", ts, body) }); code != 401 {
		t.Errorf("wrong secret: %d", code)
	}
}
