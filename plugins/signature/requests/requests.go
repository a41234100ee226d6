// Package requests is the contract of the signature block's host-only
// routes: the JSON the block answers and the paperflow host (its CLI and
// its console) reads. It holds types only, so the host can read a block's
// answers without linking the block's code, and the two cannot drift.
//
// The routes, under a signature block's path, answer only calls the host
// makes itself:
//
//	GET  api/requests?run=RUN&item=ITEM   → []Request (both filters optional)
//	POST api/requests/{id}/resend         {"email": ...}  → 202 ResendAnswer (409 when no link would go)
//	POST api/requests/{id}/cancel         {"reason": ...} → 200 CancelAnswer
//
// A refused call answers an Error with a stable Code.
package requests

import "time"

// Status values of a Request.
const (
	StatusPending   = "pending"
	StatusSealing   = "sealing"
	StatusCompleted = "completed"
	StatusDeclined  = "declined"
	StatusExpired   = "expired"
	StatusCancelled = "cancelled"
)

// Status values of a Recipient.
const (
	RecipientPending  = "pending"
	RecipientSigned   = "signed"
	RecipientDeclined = "declined"
)

// Codes of an Error.
const (
	CodeNotFound      = "not_found"
	CodeNoRequest     = "no_request"
	CodeNoRecipient   = "no_recipient"
	CodeBadRequest    = "bad_request"
	CodeUnavailable   = "unavailable"
	CodeRequestClosed = "request_closed"
	CodeReasonTooLong = "reason_too_long"
	// CodeRecipientDone: the recipient has signed or declined already.
	CodeRecipientDone = "recipient_done"
	// CodeNotTheirTurn: the recipient's signing order has not come yet.
	CodeNotTheirTurn = "not_their_turn"
)

// MaxCancelReason bounds the reason of a cancel, in characters.
const MaxCancelReason = 500

// Request is a signature request as GET api/requests lists it. Times that
// have not happened are left out.
type Request struct {
	Workflow string `json:"workflow"`
	Block    string `json:"block"`
	Lifecycle
	// DeclineReason is what a declining recipient wrote.
	DeclineReason string      `json:"decline_reason,omitempty"`
	Recipients    []Recipient `json:"recipients"`
}

// Lifecycle is which item a request is for and where it stands. The block
// keeps it as part of its own record of the request, so what the host
// reads is that record's own fields.
type Lifecycle struct {
	ID        string    `json:"id"`
	RunID     string    `json:"run_id"`
	ItemID    string    `json:"item_id"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at"`
	// ExpiredAt, CancelledAt and CancelReason say how a request ended that
	// ran out of time or was cancelled.
	ExpiredAt    time.Time `json:"expired_at,omitzero"`
	CancelledAt  time.Time `json:"cancelled_at,omitzero"`
	CancelReason string    `json:"cancel_reason,omitempty"`
}

// Open reports a request still waiting for signatures: it may be resent
// and cancelled.
func (r Request) Open() bool { return r.Status == StatusPending }

// Recipient is one recipient of a Request. The block keeps it as part of
// its own record of the recipient.
type Recipient struct {
	Email      string    `json:"email"`
	Name       string    `json:"name,omitempty"`
	Order      int       `json:"order"`
	Status     string    `json:"status"`
	InvitedAt  time.Time `json:"invited_at,omitzero"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	ViewedAt   time.Time `json:"viewed_at,omitzero"`
	SignedAt   time.Time `json:"signed_at,omitzero"`
	DeclinedAt time.Time `json:"declined_at,omitzero"`
}

// Waiting reports a recipient invited who has neither signed nor
// declined: a new link may be sent to them.
func (r Recipient) Waiting() bool {
	return !r.InvitedAt.IsZero() && r.Status != RecipientSigned && r.Status != RecipientDeclined
}

// CancelAnswer is the answer to POST api/requests/{id}/cancel.
type CancelAnswer struct {
	Request     string    `json:"request"`
	Workflow    string    `json:"workflow"`
	Status      string    `json:"status"`
	CancelledAt time.Time `json:"cancelled_at"`
	Reason      string    `json:"reason"`
}

// ResendAnswer is the answer to POST api/requests/{id}/resend.
type ResendAnswer struct {
	Request  string `json:"request"`
	Email    string `json:"email"`
	Workflow string `json:"workflow"`
	Queued   bool   `json:"queued"`
}

// Error is the body of a refused call; Code is stable for callers, Status
// is set with CodeRequestClosed (how the request ended).
type Error struct {
	Code   string `json:"code"`
	Error  string `json:"error"`
	Status string `json:"status,omitempty"`
}
