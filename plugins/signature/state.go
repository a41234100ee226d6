package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/signature/requests"
)

// The block keeps everything in the host's KV (scoped to this block of
// this workflow), under these keys:
//
//	req.<request id>      the request: recipients, their status, what happened
//	tok.<sha256 of token> which request and recipient a link is for
//	img.<request id>.<n>  the signature recipient n drew (PNG)
//	seal.pem              the certificate and key the signed PDFs are sealed with
//
// A request changes only by compare-and-set (change), so two hosts serving
// the same link, or a double-clicked Sign button, record one signature.

// Request statuses, as the host-only routes report them.
const (
	statusPending   = requests.StatusPending   // waiting for signatures
	statusSealing   = requests.StatusSealing   // everyone signed; the signed PDFs are being made
	statusCompleted = requests.StatusCompleted // signed PDFs stored
	statusDeclined  = requests.StatusDeclined  // a recipient declined; closed
	statusExpired   = requests.StatusExpired   // nobody can sign any more
	statusCancelled = requests.StatusCancelled // the sender cancelled it; closed
)

// Recipient statuses.
const (
	recipientPending  = requests.RecipientPending
	recipientSigned   = requests.RecipientSigned
	recipientDeclined = requests.RecipientDeclined
)

// request is one item's signature request, as kept in KV.
type request struct {
	// Lifecycle is what the host-only routes report of the request: its
	// ids, status, and when it was made, expires, expired or was
	// cancelled (and why).
	requests.Lifecycle
	RemindEvery time.Duration `json:"remind_every,omitempty"`
	Subject     string        `json:"subject"`
	Message     string        `json:"message,omitempty"`
	From        string        `json:"from,omitempty"`
	ReplyTo     string        `json:"reply_to,omitempty"`
	Documents   []document    `json:"documents"`
	Recipients  []recipient   `json:"recipients"`
	// Fields are what the recipients fill in on the documents, placed.
	Fields []field `json:"fields,omitempty"`
	// NoCopy: send_copy was false, so the completion mail carries no PDF.
	// (Requests made before send_copy existed have it unset: a copy.)
	NoCopy bool `json:"no_copy,omitempty"`
	// Signed are the sealed PDFs, once made.
	Signed []document `json:"signed,omitempty"`
	// Emitted is set once the final event (COMPLETED or DECLINED) is out.
	Emitted bool         `json:"emitted,omitempty"`
	Reason  string       `json:"reason,omitempty"` // of a decline
	Trail   []trailEntry `json:"trail,omitempty"`
}

type document struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Mimetype string `json:"mimetype"`
	URL      string `json:"url"`
	// Source is the id of the block that made it; empty for an uploaded
	// file (and in requests made before it was kept).
	Source string `json:"source,omitempty"`
	// Pages are the page sizes, for the page images of the signing page.
	Pages []pageSize `json:"pages,omitempty"`
}

// recipient is one recipient of a request, as kept in KV: what the
// host-only routes report of them (who, their order and status, when they
// were invited, verified, viewed, signed or declined: a DeclinedAt is
// missing in records made before it was kept), and what only the block
// needs.
type recipient struct {
	requests.Recipient
	// What the signer typed, and where they signed (or declined) from.
	Signature  string `json:"signature,omitempty"`
	Drawn      bool   `json:"drawn,omitempty"`
	IP         string `json:"ip,omitempty"`
	RemoteAddr string `json:"remote_addr,omitempty"`
	UserAgent  string `json:"user_agent,omitempty"`
	// Submission is the nonce of the form that signed or declined, so a
	// second submit of that same form gets the same answer.
	Submission string `json:"submission,omitempty"`
	Reminders  int    `json:"reminders,omitempty"`
	// Values are the recipient's field values by field name.
	Values map[string]string `json:"values,omitempty"`
	// Verify is how the recipient proves who they are before the document
	// is shown ("email" or none); verify.go keeps the codes.
	Verify       string       `json:"verify,omitempty"`
	Verification verification `json:"verification,omitzero"`
	// ViewEmitted is set once SIGNATURE_REQUEST_VIEWED is out for them.
	ViewEmitted   bool   `json:"view_emitted,omitempty"`
	ViewIP        string `json:"view_ip,omitempty"`
	ViewUserAgent string `json:"view_user_agent,omitempty"`
}

type trailEntry struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
}

// maxTrail bounds the audit trail kept per request.
const maxTrail = 200

func (r *request) log(at time.Time, format string, args ...any) {
	if len(r.Trail) < maxTrail {
		r.Trail = append(r.Trail, trailEntry{At: at.UTC(), What: fmt.Sprintf(format, args...)})
	}
}

// currentOrder is the order whose recipients may sign now: the lowest
// order with someone still pending; 0 when nobody is.
func (r *request) currentOrder() int {
	cur := 0
	for _, rc := range r.Recipients {
		if rc.Status == recipientPending && (cur == 0 || rc.Order < cur) {
			cur = rc.Order
		}
	}
	return cur
}

// turn lists, by index, the recipients who may sign now: those of the
// current signing order who have neither signed nor declined.
func (r *request) turn() []int {
	cur := r.currentOrder()
	var out []int
	for i, rc := range r.Recipients {
		if rc.Order == cur && rc.Status == recipientPending {
			out = append(out, i)
		}
	}
	return out
}

func (r *request) allSigned() bool {
	for _, rc := range r.Recipients {
		if rc.Status != recipientSigned {
			return false
		}
	}
	return true
}

func (r *request) open(now time.Time) bool {
	return r.Status == statusPending && now.Before(r.ExpiresAt)
}

// requestID is the same for every attempt at an item, so a retried
// Process finds the request its first attempt made.
func requestID(workflow, block, run, item string) string {
	sum := sha256.Sum256([]byte("paperflow-signature\x00" + workflow + "\x00" + block + "\x00" + run + "\x00" + item))
	return hex.EncodeToString(sum[:16])
}

func requestKey(id string) string { return "req." + id }

// errNoRequest means the key is gone (or never was).
var errNoRequest = errors.New("no such signature request")

func (b *Block) load(ctx context.Context, id string) (*request, uint64, error) {
	raw, rev, found, err := b.host().KVGet(ctx, requestKey(id))
	if err != nil {
		return nil, 0, sdk.Retryable(err)
	}
	if !found {
		return nil, 0, errNoRequest
	}
	r := &request{}
	if err := json.Unmarshal(raw, r); err != nil {
		return nil, 0, fmt.Errorf("signature request %s: corrupt state: %w", id, err)
	}
	return r, rev, nil
}

// maxConflicts bounds change's retries; each conflict means another
// writer made progress, so running out takes a storm of them.
const maxConflicts = 50

// change applies f to the current request and writes the result back only
// if the request did not change meanwhile; on a conflict it starts over
// with the newer state. f reports whether it changed anything and must do
// nothing but change r (it may run several times).
func (b *Block) change(ctx context.Context, id string, f func(r *request) (bool, error)) (*request, error) {
	for range maxConflicts {
		r, rev, err := b.load(ctx, id)
		if err != nil {
			return nil, err
		}
		changed, err := f(r)
		if err != nil || !changed {
			return r, err
		}
		raw, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		_, err = b.host().KVPut(ctx, requestKey(id), raw, rev)
		if errors.Is(err, sdk.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, sdk.Retryable(err)
		}
		return r, nil
	}
	return nil, sdk.Retryable(fmt.Errorf("signature request %s: too many concurrent changes", id))
}

// create stores a new request; it returns false (and no error) when one
// with its id exists already.
func (b *Block) create(ctx context.Context, r *request) (bool, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	_, err = b.host().KVPut(ctx, requestKey(r.ID), raw, 0)
	if errors.Is(err, sdk.ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, sdk.Retryable(err)
	}
	return true, nil
}

// A token is the secret part of a signing link: 256 bits from crypto/rand,
// base64url. Only its SHA-256 is kept, so the KV contents (a backup, an
// operator) do not let anyone sign. Because the token itself is not kept,
// every mail that carries a link (invitation, reminder) gets a new token
// for the same recipient; each works until the recipient has signed or
// declined, or the request ends.
const tokenBytes = 32

type tokenRecord struct {
	Request   string `json:"r"`
	Recipient int    `json:"i"`
	// Receipt tokens open the receipt page (after the request ended), not
	// the signing page.
	Receipt bool `json:"receipt,omitempty"`
}

func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "tok." + hex.EncodeToString(sum[:])
}

// issueToken makes a new link token for recipient i of request id.
func (b *Block) issueToken(ctx context.Context, id string, i int, receipt bool) (string, error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	rec, _ := json.Marshal(tokenRecord{Request: id, Recipient: i, Receipt: receipt})
	if _, err := b.host().KVPut(ctx, tokenKey(token), rec, 0); err != nil {
		return "", sdk.Retryable(fmt.Errorf("store link token: %w", err))
	}
	return token, nil
}

// validTokenShape says whether s can be a token at all; anything else is
// refused before it reaches the KV.
func validTokenShape(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// errBadToken is any token that names no recipient.
var errBadToken = errors.New("unknown link token")

// lookupToken finds the request and recipient of a token.
func (b *Block) lookupToken(ctx context.Context, token string) (tokenRecord, error) {
	if !validTokenShape(token) {
		return tokenRecord{}, errBadToken
	}
	raw, _, found, err := b.host().KVGet(ctx, tokenKey(token))
	if err != nil {
		return tokenRecord{}, err
	}
	if !found {
		return tokenRecord{}, errBadToken
	}
	var rec tokenRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return tokenRecord{}, errBadToken
	}
	return rec, nil
}

func imageKey(id string, i int) string { return fmt.Sprintf("img.%s.%d", id, i) }
