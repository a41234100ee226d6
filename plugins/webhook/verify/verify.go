// Package verify signs and verifies paperflow webhook deliveries. A service
// that receives paperflow webhooks imports it to check that a request really
// comes from its paperflow host and was not replayed:
//
//	v := verify.Verifier{Secrets: []string{os.Getenv("WEBHOOK_SECRET")}}
//	http.HandleFunc("/webhook", func(w http.ResponseWriter, r *http.Request) {
//		body, err := v.Request(r)
//		if err != nil {
//			http.Error(w, err.Error(), http.StatusUnauthorized)
//			return
//		}
//		// body is the raw envelope, verified.
//	})
//
// Every delivery carries two independent signatures over the raw body, so a
// receiver may check whichever its tools support:
//
//   - X-Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//     in the style of Stripe; during a secret rotation there is one v1= per
//     active secret. The HMAC key is the secret string exactly as given.
//   - The Standard Webhooks headers (standardwebhooks.com): webhook-id (the
//     event's eventId), webhook-timestamp (unix seconds) and webhook-signature:
//     v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>, space-separated
//     when there are several. The key is the base64-decoded part after
//     "whsec_" of a generated secret, and a secret not in that form as given.
//
// Generated secrets (GenerateSecret) are "whsec_" + base64 of 32 random bytes.
//
// Always verify the body exactly as received, before parsing it: re-encoded
// JSON is different bytes and will not verify.
package verify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names.
const (
	// SignatureHeader carries the Stripe-style signature "t=…,v1=…".
	SignatureHeader = "X-Webhook-Signature"
	// IDHeader, TimestampHeader and StandardSignatureHeader are the Standard
	// Webhooks headers.
	IDHeader                = "webhook-id"
	TimestampHeader         = "webhook-timestamp"
	StandardSignatureHeader = "webhook-signature"
)

// SecretPrefix starts every generated secret.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock, in either direction, before the delivery is refused as
// a possible replay.
const DefaultTolerance = 5 * time.Minute

// DefaultMaxBody bounds the body Verifier.Request reads.
const DefaultMaxBody = 8 << 20

// Limits on what a signature header may hold, so a hostile header cannot
// make a receiver compute thousands of HMACs.
const (
	maxHeaderLen  = 8 << 10
	maxSignatures = 32
)

// The errors verification returns wrap one of these, so a receiver can tell
// a forged request from a stale one with errors.Is.
var (
	// ErrMissing: the request carries no signature at all.
	ErrMissing = errors.New("no webhook signature")
	// ErrMalformed: a signature header is not in the documented form.
	ErrMalformed = errors.New("malformed webhook signature header")
	// ErrTimestamp: the signature's time is outside the tolerance.
	ErrTimestamp = errors.New("webhook timestamp outside the tolerance")
	// ErrMismatch: no signature matches the body and any of the secrets.
	ErrMismatch = errors.New("webhook signature does not match")
	// ErrNoSecret: the Verifier was given no secret to check with.
	ErrNoSecret = errors.New("no webhook secret configured")
)

// GenerateSecret returns a new signing secret: "whsec_" followed by the
// standard base64 encoding of 32 random bytes.
func GenerateSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// StandardKey is the HMAC key of the Standard Webhooks signature for secret:
// the decoded bytes after "whsec_" when secret is a well-formed generated
// secret, otherwise secret's own bytes.
func StandardKey(secret string) []byte {
	if rest, ok := strings.CutPrefix(secret, SecretPrefix); ok {
		if key, err := base64.StdEncoding.DecodeString(rest); err == nil && len(key) > 0 {
			return key
		}
	}
	return []byte(secret)
}

// Sign returns the hex HMAC-SHA256 of "<ts>.<body>" keyed on secret as
// given: the v1 value of X-Webhook-Signature.
func Sign(secret string, ts int64, body []byte) string {
	return hex.EncodeToString(mac([]byte(secret), nil, ts, body))
}

// SignStandard returns "v1,<base64 HMAC-SHA256(StandardKey(secret), "<id>.<ts>.<body>")>",
// one entry of the webhook-signature header.
func SignStandard(secret, id string, ts int64, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(StandardKey(secret), []byte(id), ts, body))
}

// mac computes HMAC-SHA256(key, [id "."] ts "." body) without building the
// signed string.
func mac(key, id []byte, ts int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	var buf [24]byte
	if id != nil {
		h.Write(id)
		h.Write([]byte{'.'})
	}
	h.Write(strconv.AppendInt(buf[:0], ts, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Signer puts both signatures on outgoing deliveries. It is safe for
// concurrent use.
type Signer struct {
	secrets  []string
	standard [][]byte
}

// NewSigner returns a Signer for the active secrets (the new one first
// during a rotation). With no secrets it signs nothing but still sets the
// webhook-id and webhook-timestamp headers.
func NewSigner(secrets ...string) *Signer {
	s := &Signer{}
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		s.secrets = append(s.secrets, sec)
		s.standard = append(s.standard, StandardKey(sec))
	}
	return s
}

// Sign sets the signature headers on h for a delivery of body with the
// given id (the eventId) at time ts.
func (s *Signer) Sign(h http.Header, id string, ts int64, body []byte) {
	tstr := strconv.FormatInt(ts, 10)
	h.Set(IDHeader, id)
	h.Set(TimestampHeader, tstr)
	if len(s.secrets) == 0 {
		return
	}
	var b strings.Builder
	b.Grow(len(tstr) + 2 + len(s.secrets)*68)
	b.WriteString("t=")
	b.WriteString(tstr)
	for _, sec := range s.secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac([]byte(sec), nil, ts, body)))
	}
	h.Set(SignatureHeader, b.String())

	b.Reset()
	for i, key := range s.standard {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac(key, []byte(id), ts, body)))
	}
	h.Set(StandardSignatureHeader, b.String())
}

// Signature is a parsed X-Webhook-Signature header.
type Signature struct {
	// Timestamp is the t= value, unix seconds.
	Timestamp int64
	// V1 holds the decoded v1= signatures (32 bytes each), in order.
	V1 [][]byte
}

// ParseHeader parses an X-Webhook-Signature value: comma-separated key=value
// pairs with exactly one t= (decimal unix seconds) and at least one v1= (64
// hex digits). Spaces around pairs are allowed; pairs with other keys are
// ignored, so that later signature schemes can be added beside v1.
func ParseHeader(value string) (Signature, error) {
	var sig Signature
	if value == "" {
		return sig, ErrMissing
	}
	if len(value) > maxHeaderLen {
		return sig, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxHeaderLen)
	}
	seenT := false
	for part := range strings.SplitSeq(value, ",") {
		part = strings.TrimSpace(part)
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			return Signature{}, fmt.Errorf("%w: %q is not key=value", ErrMalformed, clip(part))
		}
		switch key {
		case "t":
			if seenT {
				return Signature{}, fmt.Errorf("%w: more than one t=", ErrMalformed)
			}
			ts, err := parseUnix(val)
			if err != nil {
				return Signature{}, fmt.Errorf("%w: t=%q: %v", ErrMalformed, clip(val), err)
			}
			sig.Timestamp, seenT = ts, true
		case "v1":
			if len(val) != 2*sha256.Size {
				return Signature{}, fmt.Errorf("%w: v1= must be %d hex digits, got %d characters", ErrMalformed, 2*sha256.Size, len(val))
			}
			b, err := hex.DecodeString(val)
			if err != nil {
				return Signature{}, fmt.Errorf("%w: v1= is not hex", ErrMalformed)
			}
			if len(sig.V1) == maxSignatures {
				return Signature{}, fmt.Errorf("%w: more than %d v1= signatures", ErrMalformed, maxSignatures)
			}
			sig.V1 = append(sig.V1, b)
		}
	}
	if !seenT {
		return Signature{}, fmt.Errorf("%w: no t= timestamp", ErrMalformed)
	}
	if len(sig.V1) == 0 {
		return Signature{}, fmt.Errorf("%w: no v1= signature", ErrMalformed)
	}
	return sig, nil
}

// parseUnix accepts plain decimal digits only (no sign, no spaces), as the
// sender writes them.
func parseUnix(s string) (int64, error) {
	if s == "" || len(s) > 18 {
		return 0, errors.New("want unix seconds")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("want unix seconds")
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// clip shortens attacker-controlled text quoted in an error.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Verifier checks deliveries against the active secrets. The zero value
// of the other fields is the sensible default.
type Verifier struct {
	// Secrets are the signing secrets the receiver accepts; give the old and
	// the new one while a rotation is under way.
	Secrets []string
	// Tolerance bounds the age (and the advance) of a timestamp;
	// 0 means DefaultTolerance, a negative value disables the check.
	Tolerance time.Duration
	// Now is the receiver's clock (time.Now when nil).
	Now func() time.Time
	// MaxBody bounds the body Request reads (DefaultMaxBody when 0).
	MaxBody int64
}

func (v Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v Verifier) checkTime(ts int64) error {
	tol := v.Tolerance
	if tol == 0 {
		tol = DefaultTolerance
	}
	if tol < 0 {
		return nil
	}
	d := v.now().Sub(time.Unix(ts, 0))
	switch {
	case d > tol:
		return fmt.Errorf("%w: signed %s ago, tolerance is %s (a replayed request, or the clocks disagree)", ErrTimestamp, d.Round(time.Second), tol)
	case -d > tol:
		return fmt.Errorf("%w: signed %s in the future, tolerance is %s (the clocks disagree)", ErrTimestamp, (-d).Round(time.Second), tol)
	}
	return nil
}

// VerifySignature checks an X-Webhook-Signature value against body.
func (v Verifier) VerifySignature(header string, body []byte) error {
	if len(v.Secrets) == 0 {
		return ErrNoSecret
	}
	sig, err := ParseHeader(header)
	if err != nil {
		return err
	}
	if err := v.checkTime(sig.Timestamp); err != nil {
		return err
	}
	for _, sec := range v.Secrets {
		want := mac([]byte(sec), nil, sig.Timestamp, body)
		for _, got := range sig.V1 {
			if hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w (%s: checked %d signature(s) against %d secret(s); was the body changed, or is the secret wrong?)", ErrMismatch, SignatureHeader, len(sig.V1), len(v.Secrets))
}

// VerifyStandard checks the Standard Webhooks headers against body.
func (v Verifier) VerifyStandard(id, timestamp, signature string, body []byte) error {
	if len(v.Secrets) == 0 {
		return ErrNoSecret
	}
	if id == "" || timestamp == "" || signature == "" {
		return fmt.Errorf("%w: want all of %s, %s and %s", ErrMissing, IDHeader, TimestampHeader, StandardSignatureHeader)
	}
	if len(signature) > maxHeaderLen || len(id) > maxHeaderLen {
		return fmt.Errorf("%w: header longer than %d bytes", ErrMalformed, maxHeaderLen)
	}
	ts, err := parseUnix(timestamp)
	if err != nil {
		return fmt.Errorf("%w: %s %q: %v", ErrMalformed, TimestampHeader, clip(timestamp), err)
	}
	if err := v.checkTime(ts); err != nil {
		return err
	}
	var got [][]byte
	for entry := range strings.FieldsSeq(signature) {
		version, b64, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue // other versions (v1a: asymmetric) are not ours to check
		}
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(b) != sha256.Size {
			continue
		}
		if len(got) == maxSignatures {
			return fmt.Errorf("%w: more than %d signatures", ErrMalformed, maxSignatures)
		}
		got = append(got, b)
	}
	if len(got) == 0 {
		return fmt.Errorf("%w: %s has no v1,<base64> entry", ErrMalformed, StandardSignatureHeader)
	}
	for _, sec := range v.Secrets {
		want := mac(StandardKey(sec), []byte(id), ts, body)
		for _, g := range got {
			if hmac.Equal(g, want) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w (%s: checked %d signature(s) against %d secret(s); was the body changed, or is the secret wrong?)", ErrMismatch, StandardSignatureHeader, len(got), len(v.Secrets))
}

// Verify checks a delivery's headers against its raw body: the
// X-Webhook-Signature when present, otherwise the Standard Webhooks headers.
func (v Verifier) Verify(h http.Header, body []byte) error {
	if s := h.Get(SignatureHeader); s != "" {
		return v.VerifySignature(s, body)
	}
	if h.Get(StandardSignatureHeader) != "" {
		return v.VerifyStandard(h.Get(IDHeader), h.Get(TimestampHeader), h.Get(StandardSignatureHeader), body)
	}
	return fmt.Errorf("%w: the request has neither %s nor %s", ErrMissing, SignatureHeader, StandardSignatureHeader)
}

// Request reads r's body (at most MaxBody bytes) and verifies it. It
// returns the raw body, which the receiver should parse only now.
func (v Verifier) Request(r *http.Request) ([]byte, error) {
	limit := v.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read webhook body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("webhook body larger than %d bytes", limit)
	}
	if err := v.Verify(r.Header, body); err != nil {
		return nil, err
	}
	return body, nil
}
