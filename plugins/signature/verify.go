package main

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// A recipient with `verify: email` proves they read that mailbox before the
// document is shown: they ask for a 6-digit code, which is mailed to them,
// and type it in. A right code gives their browser a session cookie for
// this link; too many wrong ones lock the link for verifyLockout.
const (
	verifyEmail = "email"
	// verifyAttempts is how many wrong codes in a row lock the link.
	verifyAttempts = 5
	// verifyLockout is how long the link stays locked after that.
	verifyLockout = 15 * time.Minute
	// codeLifetime is how long a mailed code works.
	codeLifetime = 15 * time.Minute
	// maxSessions bounds the verified browsers kept per recipient.
	maxSessions = 10
	// sessionCookie carries the verified session for the signing pages.
	sessionCookie = "pf_verified"
)

// verification is a recipient's code state, kept in the request so that
// a compare-and-set counts every attempt exactly once.
type verification struct {
	CodeHash    string    `json:"code_hash,omitempty"`
	CodeExpires time.Time `json:"code_expires,omitzero"`
	Wrong       int       `json:"wrong,omitempty"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	Codes       int       `json:"codes,omitempty"` // mailed so far
	// Sessions are the SHA-256 of the session cookies of verified browsers.
	Sessions []string `json:"sessions,omitempty"`
}

func codeHash(id string, i int, code string) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "paperflow-signature-code\x00%s\x00%d\x00%s", id, i, code))
	return hex.EncodeToString(sum[:])
}

func sessionHash(s string) string {
	sum := sha256.Sum256([]byte("paperflow-signature-session\x00" + s))
	return hex.EncodeToString(sum[:])
}

// verified says whether recipient i of req may see the document in this
// browser: always when they need no verification.
func verified(req *request, i int, r *http.Request) bool {
	rc := req.Recipients[i]
	if rc.Verify != verifyEmail {
		return true
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return false
	}
	return slices.Contains(rc.Verification.Sessions, sessionHash(c.Value))
}

// verifyPage is the page asking for the code.
type verifyPage struct {
	Title, Nonce, DocNames, Email string
	Submission                    string
	Sent                          bool
	Error                         string
}

// maskEmail shows enough of an address to recognise it: a•••@example.com.
func maskEmail(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" {
		return addr
	}
	return string([]rune(local)[:1]) + "•••@" + domain
}

func (b *Block) renderVerify(w http.ResponseWriter, status int, req *request, i int, sent bool, problem string) {
	p := verifyPage{Title: "Confirm it is you", DocNames: docNames(req.Documents), Email: maskEmail(req.Recipients[i].Email),
		Submission: randomHex(16), Sent: sent, Error: problem}
	b.render(w, status, "verify", &p, &p.Nonce)
}

// sendCode mails recipient i a new code.
func (b *Block) sendCode(w http.ResponseWriter, r *http.Request, req *request, i int) {
	ctx := r.Context()
	now := b.now()
	if until := req.Recipients[i].Verification.LockedUntil; now.Before(until) {
		b.renderVerify(w, http.StatusTooManyRequests, req, i, false, lockedMessage(until))
		return
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		b.messageState(w, tryAgain)
		return
	}
	code := fmt.Sprintf("%06d", n.Int64())
	var count int
	x, err := b.change(ctx, req.ID, func(x *request) (bool, error) {
		v := &x.Recipients[i].Verification
		v.CodeHash, v.CodeExpires = codeHash(x.ID, i, code), now.Add(codeLifetime).UTC()
		v.Codes++
		count = v.Codes
		x.log(now, "Verification code sent to %s", x.Recipients[i].Email)
		return true, nil
	})
	if err != nil {
		b.messageState(w, tryAgain)
		return
	}
	rc := x.Recipients[i]
	text := fmt.Sprintf("Your code to open %s is:\n\n%s\n\nIt works for %d minutes. If you did not ask for it, ignore this email.\n",
		docNames(x.Documents), code, int(codeLifetime/time.Minute))
	if _, err := b.host().SendMail(ctx, sdk.Mail{
		From: x.From, ReplyTo: x.ReplyTo, To: []string{address(rc)}, Subject: "Your code: " + code,
		Text: text, IdempotencyKey: b.mailKey(x, i, fmt.Sprintf("code-%d", count)),
	}); err != nil {
		b.messageState(w, tryAgain)
		return
	}
	b.renderVerify(w, http.StatusOK, x, i, true, "")
}

func lockedMessage(until time.Time) string {
	return fmt.Sprintf("Too many wrong codes: this link is locked until %s. Then ask for a new code.", until.UTC().Format("15:04 UTC"))
}

// checkCode counts one attempt at a code: a right one gives this browser a
// session, the verifyAttempts-th wrong one in a row locks the link.
func (b *Block) checkCode(w http.ResponseWriter, r *http.Request, req *request, i int, token string) {
	ctx := r.Context()
	code := strings.Map(func(c rune) rune {
		if c >= '0' && c <= '9' {
			return c
		}
		return -1
	}, r.PostFormValue("code"))
	session := randomHex(32)
	var ok bool
	var problem string
	_, err := b.change(ctx, req.ID, func(x *request) (bool, error) {
		ok, problem = false, ""
		now := b.now()
		rc := &x.Recipients[i]
		v := &rc.Verification
		switch {
		case now.Before(v.LockedUntil):
			problem = lockedMessage(v.LockedUntil)
			return false, nil
		case v.CodeHash == "" || !now.Before(v.CodeExpires):
			problem = "That code has expired. Ask for a new one."
			return false, nil
		case len(code) == 6 && subtle.ConstantTimeCompare([]byte(codeHash(x.ID, i, code)), []byte(v.CodeHash)) == 1:
			ok = true
			v.CodeHash, v.Wrong = "", 0
			v.Sessions = append(v.Sessions, sessionHash(session))
			if len(v.Sessions) > maxSessions {
				v.Sessions = v.Sessions[len(v.Sessions)-maxSessions:]
			}
			if rc.VerifiedAt.IsZero() {
				rc.VerifiedAt = now.UTC()
			}
			ip, _ := clientIP(r)
			x.log(now, "%s verified by an emailed code from %s", rc.Email, ip)
			return true, nil
		}
		v.Wrong++
		if v.Wrong >= verifyAttempts {
			v.Wrong, v.CodeHash = 0, ""
			v.LockedUntil = now.Add(verifyLockout).UTC()
			x.log(now, "Link of %s locked for %s after %d wrong codes", rc.Email, verifyLockout, verifyAttempts)
			problem = lockedMessage(v.LockedUntil)
		} else {
			x.log(now, "Wrong verification code for %s (%d of %d)", rc.Email, v.Wrong, verifyAttempts)
			problem = fmt.Sprintf("That code is not right. %d attempts left.", verifyAttempts-v.Wrong)
		}
		return true, nil
	})
	if err != nil {
		b.messageState(w, tryAgain)
		return
	}
	if !ok {
		status := http.StatusUnprocessableEntity
		if strings.HasPrefix(problem, "Too many") {
			status = http.StatusTooManyRequests
		}
		b.renderVerify(w, status, req, i, true, problem)
		return
	}
	path := "/"
	if u, err := url.Parse(b.base()); err == nil && u.Path != "" {
		path = u.Path + "/"
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: session, Path: path, HttpOnly: true, Secure: strings.HasPrefix(b.cfg.PublicURL, "https:"),
		SameSite: http.SameSiteLaxMode, MaxAge: int(req.ExpiresAt.Sub(b.now()).Seconds())})
	http.Redirect(w, r, token, http.StatusSeeOther)
}

// pendingVerification is checked by the routes that show or sign the
// document: without a verified session they show the code page.
func (b *Block) pendingVerification(w http.ResponseWriter, r *http.Request, req *request, i int) bool {
	if verified(req, i, r) {
		return false
	}
	b.renderVerify(w, http.StatusForbidden, req, i, false, "")
	return true
}
