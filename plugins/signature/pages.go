package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/png"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paperflow/paperflow/plugins/ratelimit"
)

//go:embed pages.html
var pageFiles embed.FS

var pages = template.Must(template.ParseFS(pageFiles, "pages.html"))

// maxInlineDocument is the largest document /doc serves itself; a larger
// one is redirected to a short-lived document link of the host, because a
// block's HTTP answer travels in one gRPC message.
const maxInlineDocument = 3 << 20

// maxForm bounds a POST (the drawn signature is most of it).
const maxForm = 1 << 20

// ServeHTTP implements sdk.Router. The host mounts it under
// /blocks/<workflow>/<block>/:
//
//	GET  /sign/<token>       the signing page
//	POST /sign/<token>       sign (action=sign) or decline (action=decline)
//	GET  /doc/<token>/<n>    the n-th document of the request, to download
//	GET  /page/<token>/<n>/<p>?w=<px>  page p of document n as a PNG
//	GET  /receipt/<token>    the outcome, and the signed PDFs once completed
//
// Any token that is unknown, expired, used or for another page gets the
// same kind of plain error page, which shows nothing of the request.
// Failed lookups and POSTs are rate limited per client address, and POSTs
// also per link (limits.go): over the limit, 429 with Retry-After.
func (b *Block) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	switch {
	case len(parts) == 2 && parts[0] == "sign" && r.Method == http.MethodGet:
		b.signPage(w, r, parts[1])
	case len(parts) == 2 && parts[0] == "sign" && r.Method == http.MethodPost:
		b.signPost(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "doc" && r.Method == http.MethodGet:
		b.serveDocument(w, r, parts[1], parts[2])
	case len(parts) == 4 && parts[0] == "page" && r.Method == http.MethodGet:
		b.servePage(w, r, parts[1], parts[2], parts[3])
	case len(parts) == 2 && parts[0] == "receipt" && r.Method == http.MethodGet:
		b.receiptPage(w, r, parts[1])
	case parts[0] == "api":
		b.serveAPI(w, r, parts[1:])
	case len(parts) == 2 && (parts[0] == "sign" || parts[0] == "receipt"):
		h.Set("Allow", "GET, POST")
		b.message(w, http.StatusMethodNotAllowed, "Not allowed", "Open the link from your email in a browser.")
	default:
		b.message(w, http.StatusNotFound, "Page not found", "Check that you opened the whole link from your email.")
	}
}

// pageState is why a link cannot be used now, as a person reads it.
type pageState struct {
	status  int
	heading string
	lines   []string
}

var (
	linkInvalid    = pageState{http.StatusNotFound, "This link is not valid", []string{"Check that you opened the whole link from your email. If it still does not work, ask the sender for a new one."}}
	linkUsed       = pageState{http.StatusGone, "This link has already been used", []string{"The document was signed with this link. You will receive the signed document by email once everyone has signed."}}
	linkUsedNoCopy = pageState{http.StatusGone, "This link has already been used", []string{"The document was signed with this link. You will get an email once everyone has signed."}}
	linkExpired    = pageState{http.StatusGone, "This link has expired", []string{"The time to sign this document is over. Ask the sender for a new request."}}
	linkDeclined   = pageState{http.StatusGone, "This request is closed", []string{"The document was declined, so it can no longer be signed."}}
	linkNotYet     = pageState{http.StatusConflict, "Not your turn yet", []string{"Others sign this document before you. You will get an email when it is your turn."}}
	linkClosed     = pageState{http.StatusGone, "This request is closed", []string{"The document can no longer be signed with this link."}}
	tryAgain       = pageState{http.StatusServiceUnavailable, "Please try again", []string{"The signing service is busy. Please reload this page in a minute."}}
)

// cancelledState is the page of every link of a request its sender
// cancelled, with the reason they gave.
func cancelledState(r *request) *pageState {
	s := pageState{http.StatusGone, "This request was cancelled", []string{"The sender cancelled this request, so the document can no longer be signed. You do not need to do anything."}}
	if r.CancelReason != "" {
		s.lines = append(s.lines, "Reason given: "+r.CancelReason)
	}
	return &s
}

// signable finds the request and recipient of a signing token and says
// whether that recipient can sign now. A token that names no recipient
// counts against the client's failed lookups.
func (b *Block) signable(r *http.Request, token string) (*request, int, *pageState) {
	req, i, state := b.findSignable(r.Context(), token)
	if state == &linkInvalid {
		b.lookupFailed(r)
	}
	return req, i, state
}

func (b *Block) findSignable(ctx context.Context, token string) (*request, int, *pageState) {
	rec, err := b.lookupToken(ctx, token)
	if errors.Is(err, errBadToken) || (err == nil && rec.Receipt) {
		return nil, 0, &linkInvalid
	}
	if err != nil {
		return nil, 0, &tryAgain
	}
	r, _, err := b.load(ctx, rec.Request)
	if errors.Is(err, errNoRequest) {
		return nil, 0, &linkInvalid
	}
	if err != nil || rec.Recipient < 0 || rec.Recipient >= len(r.Recipients) {
		return nil, 0, &tryAgain
	}
	return r, rec.Recipient, b.blocked(r, rec.Recipient)
}

// blocked says why recipient i cannot sign request r now, or nil.
func (b *Block) blocked(r *request, i int) *pageState {
	rc := r.Recipients[i]
	switch {
	case r.Status == statusCancelled:
		return cancelledState(r)
	case rc.Status == recipientSigned && r.NoCopy:
		return &linkUsedNoCopy
	case rc.Status == recipientSigned:
		return &linkUsed
	case rc.Status == recipientDeclined || r.Status == statusDeclined:
		return &linkDeclined
	case r.Status == statusExpired || (r.Status == statusPending && !b.now().Before(r.ExpiresAt)):
		return &linkExpired
	case r.Status != statusPending:
		return &linkClosed
	case rc.Order != r.currentOrder():
		return &linkNotYet
	}
	return nil
}

// signForm is what the signing page shows.
type signForm struct {
	Title, Nonce          string
	Name, Email, DocNames string
	Message, Consent      string
	Expires               string
	Documents             []pageDocument
	Submission, TypedName string
	Error                 string
	// HasFields: the signer fills fields on the page images.
	HasFields bool
	Today     string
}

type pageDocument struct {
	Name, Path string
	Pages      []pageImage
}

// pageImage is one page of a document on the signing page: its image in a
// few widths (srcset) and the fields on it, in % of the page.
type pageImage struct {
	ID, Src, SrcSet, Alt string
	Aspect               string // width / height, for the box reserved before the image loads
	Number, Of           int
	Fields               []pageField
}

type pageField struct {
	ID, Name, Type, Label, Value string
	Required                     bool
	Left, Top, Width, Height     string // CSS percentages
	FontSize                     string // in cqw: a share of the page's width
}

// pageWidths are the widths page images are rendered at; a request asks
// for any width and gets the next one up, so each page has at most this
// many renderings cached.
var pageWidths = []int{480, 800, 1200, 1600}

func bucketWidth(w int) int {
	for _, b := range pageWidths {
		if w <= b {
			return b
		}
	}
	return pageWidths[len(pageWidths)-1]
}

func pct(v, of float64) string {
	if of <= 0 {
		return "0%"
	}
	return strconv.FormatFloat(v/of*100, 'f', 3, 64) + "%"
}

// pageImages lays out document n's pages and recipient i's fields on them.
func pageImages(req *request, n, i int, token string, values map[string]string) []pageImage {
	d := req.Documents[n]
	var out []pageImage
	for p, size := range d.Pages {
		base := "../page/" + token + "/" + strconv.Itoa(n) + "/" + strconv.Itoa(p+1)
		var set []string
		for _, w := range pageWidths {
			set = append(set, base+"?w="+strconv.Itoa(w)+" "+strconv.Itoa(w)+"w")
		}
		pi := pageImage{ID: fmt.Sprintf("p-%d-%d", n, p+1), Src: base + "?w=800", SrcSet: strings.Join(set, ", "),
			Alt: fmt.Sprintf("%s, page %d of %d", d.Name, p+1, len(d.Pages)), Number: p + 1, Of: len(d.Pages),
			Aspect: strconv.FormatFloat(size.W, 'f', 2, 64) + "/" + strconv.FormatFloat(size.H, 'f', 2, 64)}
		for _, f := range req.Fields {
			if f.Recipient != i {
				continue
			}
			for k, pl := range f.Places {
				if pl.Doc != n || pl.Page != p+1 {
					continue
				}
				pi.Fields = append(pi.Fields, pageField{
					ID: fmt.Sprintf("f-%s-%d-%d", f.Name, n, k), Name: f.Name, Type: f.Type, Label: f.Label, Value: values[f.Name], Required: f.Required,
					Left: pct(pl.X, size.W), Top: pct(pl.Y, size.H), Width: pct(pl.W, size.W), Height: pct(pl.H, size.H),
					FontSize: strconv.FormatFloat(pl.H/size.W*100*0.6, 'f', 3, 64) + "cqw",
				})
			}
		}
		out = append(out, pi)
	}
	return out
}

func (b *Block) signPage(w http.ResponseWriter, r *http.Request, token string) {
	ctx := r.Context()
	req, i, ok := b.openLink(w, r, token)
	if !ok {
		return
	}
	ip, _ := clientIP(r)
	b.viewed(ctx, req, i, ip, cleanText(r.UserAgent(), 500))
	b.renderForm(w, http.StatusOK, req, i, token, "", "", nil)
}

// openLink finds the request of a signing link for a page that shows it:
// within the client's lookup limits, still open to this recipient, and
// with their email verified where the request asks for that. Otherwise it
// has answered, and ok is false.
func (b *Block) openLink(w http.ResponseWriter, r *http.Request, token string) (req *request, i int, ok bool) {
	if !b.lookupAllowed(w, r) {
		return nil, 0, false
	}
	req, i, blocked := b.signable(r, token)
	if blocked != nil {
		b.messageState(w, *blocked)
		return nil, 0, false
	}
	if b.pendingVerification(w, r, req, i) {
		return nil, 0, false
	}
	return req, i, true
}

func (b *Block) renderForm(w http.ResponseWriter, status int, req *request, i int, token, typed, problem string, values map[string]string) {
	rc := req.Recipients[i]
	f := signForm{
		Title: "Sign " + docNames(req.Documents), Name: rc.Name, Email: rc.Email, DocNames: docNames(req.Documents),
		Message: req.Message, Consent: consentText, Expires: req.ExpiresAt.UTC().Format("2 January 2006, 15:04 UTC"),
		Submission: randomHex(16), TypedName: typed, Error: problem, Today: b.now().UTC().Format("2 January 2006"),
	}
	if f.Name == "" {
		f.Name = rc.Email
	}
	if values == nil {
		values = map[string]string{}
		for _, fl := range req.Fields {
			if fl.Recipient != i {
				continue
			}
			switch fl.Type {
			case fieldName:
				values[fl.Name] = rc.Name
			case fieldInitials:
				values[fl.Name] = initials(rc.Name)
			}
		}
	}
	for _, fl := range req.Fields {
		f.HasFields = f.HasFields || fl.Recipient == i
	}
	for n, d := range req.Documents {
		f.Documents = append(f.Documents, pageDocument{Name: d.Name, Path: "../doc/" + token + "/" + strconv.Itoa(n), Pages: pageImages(req, n, i, token, values)})
	}
	b.render(w, status, "sign", &f, &f.Nonce)
}

// render writes a page with a Content-Security-Policy that lets only its
// own inline style and script (by nonce) run, and frames only this origin.
func (b *Block) render(w http.ResponseWriter, status int, name string, data any, nonce *string) {
	*nonce = randomHex(16)
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "page error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+*nonce+"'; style-src 'nonce-"+*nonce+"'; "+
		"img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type messagePage struct {
	Title, Nonce, Heading string
	Lines                 []string
	Links                 []pageDocument
}

func (b *Block) message(w http.ResponseWriter, status int, heading string, lines ...string) {
	p := messagePage{Title: heading, Heading: heading, Lines: lines}
	b.render(w, status, "message", &p, &p.Nonce)
}

func (b *Block) messageState(w http.ResponseWriter, s pageState) {
	b.message(w, s.status, s.heading, s.lines...)
}

// outcome is what a POST did.
type outcome int

const (
	outcomeDone   outcome = iota + 1 // this submission signed or declined
	outcomeRepeat                    // the same form sent again: already done
)

func (b *Block) signPost(w http.ResponseWriter, r *http.Request, token string) {
	if !b.postAllowed(w, r) || !b.lookupAllowed(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		b.message(w, http.StatusBadRequest, "Could not read the form", "Go back, and try again.")
		return
	}
	req, i, blocked := b.signable(r, token)
	if req != nil && !b.tokenPostAllowed(w, token) {
		return
	}
	submission := r.PostFormValue("submission")
	if !validSubmission(submission) {
		submission = ""
	}
	if blocked != nil {
		// The same form sent twice (a double click) gets the first answer.
		if req != nil && submission != "" && req.Recipients[i].Submission == submission {
			b.thanks(w, req, i)
			return
		}
		b.messageState(w, *blocked)
		return
	}
	switch action := r.PostFormValue("action"); {
	case action == "send-code" && req.Recipients[i].Verify == verifyEmail:
		b.sendCode(w, r, req, i)
	case action == "verify" && req.Recipients[i].Verify == verifyEmail:
		b.checkCode(w, r, req, i, token)
	case (action == "sign" || action == "decline") && b.pendingVerification(w, r, req, i):
	case action == "sign":
		b.sign(w, r, req, i, token, submission)
	case action == "decline":
		b.decline(w, r, req, i, submission)
	default:
		b.message(w, http.StatusBadRequest, "Could not read the form", "Go back, and press Sign or Decline.")
	}
}

func (b *Block) sign(w http.ResponseWriter, r *http.Request, req *request, i int, token, submission string) {
	ctx := r.Context()
	typed := cleanText(r.PostFormValue("name"), 200)
	posted := map[string]string{}
	for k, vs := range r.PostForm {
		if name, ok := strings.CutPrefix(k, "field."); ok && len(vs) > 0 {
			posted[name] = vs[0]
		}
	}
	if r.PostFormValue("consent") != "yes" {
		b.renderForm(w, http.StatusUnprocessableEntity, req, i, token, typed, "Tick the box to agree to sign electronically.", posted)
		return
	}
	if typed == "" {
		b.renderForm(w, http.StatusUnprocessableEntity, req, i, token, typed, "Type your full name as your signature.", posted)
		return
	}
	values, missing := fieldValues(req.Fields, i, func(k string) []string { return r.PostForm[k] }, typed, b.now().UTC().Format(time.DateOnly))
	if missing != "" {
		b.renderForm(w, http.StatusUnprocessableEntity, req, i, token, typed, missing, posted)
		return
	}
	var drawn []byte
	if d := r.PostFormValue("drawn"); d != "" {
		var err error
		if drawn, err = signatureImage(d); err != nil {
			b.renderForm(w, http.StatusUnprocessableEntity, req, i, token, typed, "The drawn signature could not be read; clear it and draw again, or sign with your typed name only.", posted)
			return
		}
		if _, err := b.host().KVSet(ctx, imageKey(req.ID, i), drawn); err != nil {
			b.messageState(w, tryAgain)
			return
		}
	}
	b.answer(w, r, req, i, submission, func(x *request, rc *recipient, now time.Time) {
		rc.Status, rc.SignedAt, rc.Signature, rc.Drawn = recipientSigned, now.UTC(), typed, drawn != nil
		if len(values) > 0 {
			rc.Values = values
		}
		for _, f := range x.Fields {
			if f.Recipient == i {
				x.log(now, "%s filled in %s (%s): %q", rc.Email, f.Label, f.Name, values[f.Name])
			}
		}
		x.log(now, "Signed by %s <%s> as %q from %s", rc.Name, rc.Email, typed, rc.IP)
		if x.allSigned() {
			x.Status = statusSealing
			x.log(now, "Everyone has signed")
		}
	})
}

func (b *Block) decline(w http.ResponseWriter, r *http.Request, req *request, i int, submission string) {
	reason := strings.TrimSpace(strings.Map(func(c rune) rune {
		if c == '\n' {
			return c
		}
		if c < 0x20 || c == 0x7f {
			return ' '
		}
		return c
	}, r.PostFormValue("reason")))
	if len([]rune(reason)) > 2000 {
		reason = string([]rune(reason)[:2000])
	}
	b.answer(w, r, req, i, submission, func(x *request, rc *recipient, now time.Time) {
		rc.Status, rc.DeclinedAt = recipientDeclined, now.UTC()
		x.Status, x.Reason = statusDeclined, reason
		x.log(now, "Declined by %s <%s> from %s", rc.Name, rc.Email, rc.IP)
	})
}

// answer records recipient i's answer, sign or decline, that apply writes
// into the request, and shows the outcome. The form sent again (a double
// click) records nothing and gets the first answer's page; a request that
// no longer takes this recipient's answer says why. The recipient's
// address and browser, and the submission, are recorded with any answer.
func (b *Block) answer(w http.ResponseWriter, r *http.Request, req *request, i int, submission string, apply func(x *request, rc *recipient, now time.Time)) {
	ctx := r.Context()
	ip, remote := clientIP(r)
	ua := cleanText(r.UserAgent(), 500)
	if !b.scheduleSettle(ctx, w, req.ID, i) {
		return
	}
	var got outcome
	var blocked *pageState
	final, err := b.change(ctx, req.ID, func(x *request) (bool, error) {
		got, blocked = 0, nil
		rc := &x.Recipients[i]
		if submission != "" && rc.Submission == submission {
			got = outcomeRepeat
			return false, nil
		}
		if blocked = b.blocked(x, i); blocked != nil {
			return false, nil
		}
		rc.IP, rc.RemoteAddr, rc.UserAgent, rc.Submission = ip, remote, ua, submission
		apply(x, rc, b.now())
		got = outcomeDone
		return true, nil
	})
	switch {
	case err != nil:
		b.messageState(w, tryAgain)
		return
	case blocked != nil:
		b.messageState(w, *blocked)
		return
	}
	if got == outcomeDone {
		final = b.followUp(ctx, final)
	}
	b.thanks(w, final, i)
}

// scheduleSettle registers the safety-net callback before a signature or
// decline is recorded: if this process dies right after recording it, the
// host runs settle later and nothing is left half done.
func (b *Block) scheduleSettle(ctx context.Context, w http.ResponseWriter, id string, i int) bool {
	err := b.host().Schedule(ctx, "settle/"+id+"/"+strconv.Itoa(i), b.now().Add(settleDelay), nil)
	if err != nil {
		b.messageState(w, tryAgain)
		return false
	}
	return true
}

// followUp runs settle right away, so the next signers are invited and the
// signed PDF is made while the signer waits for the page. A failure is
// logged, not shown: the signature is recorded, and the scheduled settle
// tries again.
// It returns the request as it is afterwards.
func (b *Block) followUp(ctx context.Context, r *request) *request {
	if err := b.settle(ctx, r.ID); err != nil {
		b.host().Log(ctx, "error", "signature: follow-up failed; the scheduled retry will redo it", map[string]any{"request": r.ID, "err": err.Error()})
	}
	if now, _, err := b.load(ctx, r.ID); err == nil {
		return now
	}
	return r
}

func (b *Block) thanks(w http.ResponseWriter, req *request, i int) {
	rc := req.Recipients[i]
	if rc.Status == recipientDeclined {
		b.message(w, http.StatusOK, "You declined", "You declined to sign "+docNames(req.Documents)+". The sender is told, and the request is closed.")
		return
	}
	lines := []string{"Thank you, " + rc.Signature + ". Your signature on " + docNames(req.Documents) + " is recorded."}
	switch {
	case req.NoCopy && req.Status == statusCompleted:
		lines = append(lines, "Everyone has signed. The sender keeps the signed document.")
	case req.NoCopy:
		lines = append(lines, "You will get an email once everyone has signed.")
	case req.Status == statusCompleted:
		lines = append(lines, "Everyone has signed. The signed PDF is on its way to you by email.")
	default:
		lines = append(lines, "You will receive the signed PDF by email once everyone has signed.")
	}
	b.message(w, http.StatusOK, "Signed", lines...)
}

func (b *Block) serveDocument(w http.ResponseWriter, r *http.Request, token, index string) {
	ctx := r.Context()
	req, i, ok := b.openLink(w, r, token)
	if !ok {
		return
	}
	n, err := strconv.Atoi(index)
	if err != nil || n < 0 || n >= len(req.Documents) {
		b.messageState(w, linkInvalid)
		return
	}
	d, data, err := b.host().GetDocument(ctx, req.Documents[n].ID)
	if err != nil {
		b.messageState(w, tryAgain)
		return
	}
	if len(data) > maxInlineDocument {
		u, err := b.host().DocumentURL(ctx, d.ID, 10*time.Minute)
		if err != nil {
			b.messageState(w, tryAgain)
			return
		}
		http.Redirect(w, r, u, http.StatusSeeOther)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": req.Documents[n].Name}))
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	// The answer travels whole in one message to the host: by the time
	// the signer has the document, its event is out.
	b.downloaded(ctx, r, req, i, n)
	_, _ = w.Write(data)
}

func (b *Block) receiptPage(w http.ResponseWriter, r *http.Request, token string) {
	ctx := r.Context()
	if !b.lookupAllowed(w, r) {
		return
	}
	rec, err := b.lookupToken(ctx, token)
	if errors.Is(err, errBadToken) || (err == nil && !rec.Receipt) {
		b.lookupFailed(r)
		b.messageState(w, linkInvalid)
		return
	}
	if err != nil {
		b.messageState(w, tryAgain)
		return
	}
	req, _, err := b.load(ctx, rec.Request)
	if err != nil {
		b.messageState(w, linkInvalid)
		return
	}
	p := messagePage{Title: "Signature request", Heading: "Signature request for " + docNames(req.Documents)}
	switch req.Status {
	case statusCompleted:
		p.Lines = []string{"Everyone has signed. Download the signed PDF:"}
		for _, d := range req.Signed {
			u, err := b.host().DocumentURL(ctx, d.ID, time.Hour)
			if err != nil {
				b.messageState(w, tryAgain)
				return
			}
			p.Links = append(p.Links, pageDocument{Name: d.Name, Path: u})
		}
	case statusDeclined:
		p.Lines = []string{"The request was declined and is closed."}
	case statusExpired:
		p.Lines = []string{"The request expired before everyone signed."}
	case statusCancelled:
		p.Lines = []string{"The sender cancelled the request."}
	default:
		p.Lines = []string{"The request is still open."}
	}
	b.render(w, http.StatusOK, "receipt", &p, &p.Nonce)
}

// clientIP is the signer's address as the operator's proxies saw it
// (ratelimit.ClientIP, as the limits count clients); remote is always the
// connection's address.
func clientIP(r *http.Request) (ip, remote string) {
	remote = r.RemoteAddr
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	return ratelimit.ClientIP(r), remote
}

// maxSignatureImage bounds a drawn signature's size and dimensions.
const (
	maxSignatureImage = 512 << 10
	maxSignatureSide  = 2000
)

// signatureImage decodes a drawn signature (a PNG data URL) and encodes
// it again, so only pixels reach the PDF.
func signatureImage(dataURL string) ([]byte, error) {
	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(dataURL, prefix) || len(dataURL) > maxSignatureImage*4/3+len(prefix)+4 {
		return nil, errors.New("not a PNG data URL of acceptable size")
	}
	raw, err := base64.StdEncoding.DecodeString(dataURL[len(prefix):])
	if err != nil {
		return nil, err
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > maxSignatureSide || cfg.Height > maxSignatureSide {
		return nil, fmt.Errorf("image of %dx%d", cfg.Width, cfg.Height)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, flatten(img)); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// flatten draws img on white: PDF readers show transparent PNG areas in
// odd colours, and fpdf handles an opaque image more simply.
func flatten(img image.Image) image.Image {
	bounds := img.Bounds()
	out := image.NewRGBA(bounds)
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			// Composite over white: c + (1-a)·white, in 16-bit.
			inv := 0xffff - a
			i := out.PixOffset(x, y)
			out.Pix[i+0] = uint8((r + inv) >> 8)
			out.Pix[i+1] = uint8((g + inv) >> 8)
			out.Pix[i+2] = uint8((bl + inv) >> 8)
			out.Pix[i+3] = 0xff
		}
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func validSubmission(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
