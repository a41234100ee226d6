package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/events"
)

// settleDelay is when the safety-net callback registered before each
// signature or decline runs settle again, in case the process that
// recorded it died before finishing the follow-up work.
const settleDelay = 2 * time.Minute

// settle does whatever a request's state calls for next, and nothing that
// is done already, so it may run any number of times, on any host:
// invite the current signing order, seal and store the signed PDFs, emit
// the final event, send the signed PDFs to everyone.
func (b *Block) settle(ctx context.Context, id string) error {
	r, _, err := b.load(ctx, id)
	if err != nil {
		return err
	}
	switch r.Status {
	case statusPending:
		if !b.now().Before(r.ExpiresAt) {
			return b.expire(ctx, id)
		}
		return b.inviteCurrent(ctx, id, nil)
	case statusSealing:
		return b.complete(ctx, r)
	case statusCompleted, statusDeclined, statusExpired, statusCancelled:
		if !r.Emitted {
			return b.emitFinal(ctx, id)
		}
	}
	return nil
}

// inviteCurrent mails every recipient of the current signing order who has
// not been invited yet, with links[i] when given (else a new token), and
// records the invitation. The mail's idempotency key makes a repeated call
// (two hosts, a retried item) send nothing new.
func (b *Block) inviteCurrent(ctx context.Context, id string, links map[int]string) error {
	r, open, err := b.loadOpen(ctx, id)
	if err != nil || !open {
		return err
	}
	for _, i := range r.turn() {
		rc := r.Recipients[i]
		if !rc.InvitedAt.IsZero() {
			continue
		}
		tok := links[i]
		if tok == "" {
			if tok, err = b.issueToken(ctx, id, i, false); err != nil {
				return err
			}
		}
		if err := b.sendLink(ctx, r, i, tok, "invite"); err != nil {
			return err
		}
		_, err := b.change(ctx, id, func(x *request) (bool, error) {
			if !x.Recipients[i].InvitedAt.IsZero() {
				return false, nil
			}
			now := b.now()
			x.Recipients[i].InvitedAt = now.UTC()
			x.log(now, "Invitation sent to %s (signing order %d)", rc.Email, rc.Order)
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// loadOpen loads request id and reports whether it is still open for
// signing; once it is closed there is no one left to mail.
func (b *Block) loadOpen(ctx context.Context, id string) (*request, bool, error) {
	r, _, err := b.load(ctx, id)
	if err != nil {
		return nil, false, err
	}
	return r, r.open(b.now()), nil
}

// mailKey is the idempotency key of one mail of a request: per block,
// request, recipient and purpose.
func (b *Block) mailKey(r *request, i int, purpose string) string {
	return "signature/" + b.cfg.Workflow + "/" + b.cfg.BlockID + "/" + r.ID + "/" + strconv.Itoa(i) + "/" + purpose
}

func address(rc recipient) string {
	return (&mail.Address{Name: rc.Name, Address: rc.Email}).String()
}

// sendLink mails recipient i their signing link: an invitation, a
// reminder ("remind-<n>") or a resent invitation ("resend-<n>").
func (b *Block) sendLink(ctx context.Context, r *request, i int, token, purpose string) error {
	rc := r.Recipients[i]
	link := b.signURL(token)
	subject := r.Subject
	if strings.HasPrefix(purpose, "remind") {
		subject = "Reminder: " + subject
	}
	greeting := "Hello"
	if rc.Name != "" {
		greeting += " " + rc.Name
	}
	expires := r.ExpiresAt.UTC().Format("2 January 2006, 15:04 UTC")
	var text strings.Builder
	if r.Message != "" {
		text.WriteString(r.Message + "\n\n")
	}
	fmt.Fprintf(&text, "%s,\n\nyou are asked to sign: %s.\nOpen this link to read the document and sign it (or decline):\n\n%s\n\n"+
		"The link is personal: whoever has it can sign in your name, so please do not forward this email.\nIt works until %s.\n",
		greeting, docNames(r.Documents), link, expires)
	var h strings.Builder
	h.WriteString(`<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">`)
	if r.Message != "" {
		fmt.Fprintf(&h, `<p style="white-space:pre-line">%s</p>`, html.EscapeString(r.Message))
	}
	fmt.Fprintf(&h, `<p>%s,</p><p>you are asked to sign: %s.</p>`+
		`<p><a href="%s" style="display:inline-block;padding:12px 20px;background:#1f4fbf;color:#fff;border-radius:6px;text-decoration:none">Review and sign</a></p>`+
		`<p style="color:#555;font-size:90%%">Or open this link: %s<br>The link is personal: whoever has it can sign in your name, so please do not forward this email. It works until %s.</p></body></html>`,
		html.EscapeString(greeting), html.EscapeString(docNames(r.Documents)), html.EscapeString(link), html.EscapeString(link), html.EscapeString(expires))
	_, err := b.host().SendMail(ctx, sdk.Mail{
		From: r.From, ReplyTo: r.ReplyTo, To: []string{address(rc)}, Subject: subject,
		Text: text.String(), HTML: h.String(), IdempotencyKey: b.mailKey(r, i, purpose),
	})
	if err != nil {
		return sdk.Retryable(fmt.Errorf("invite %s: %w", rc.Email, err))
	}
	return nil
}

// complete seals the documents of a request everyone signed, stores them
// and moves the request to completed. Only the caller whose
// compare-and-set made that move emits the event; a concurrent caller's
// PDFs are dropped.
func (b *Block) complete(ctx context.Context, r *request) error {
	signed, err := b.sealDocuments(ctx, r)
	if err != nil {
		return err
	}
	won := false
	_, err = b.change(ctx, r.ID, func(x *request) (bool, error) {
		won = false
		if x.Status != statusSealing {
			return false, nil
		}
		now := b.now()
		x.Status, x.Signed, won = statusCompleted, signed, true
		x.log(now, "Signed documents sealed and stored: %s", docNames(signed))
		return true, nil
	})
	if err != nil || !won {
		return err
	}
	return b.emitFinal(ctx, r.ID)
}

// emitFinal publishes SIGNATURES_COMPLETED or SIGNATURES_DECLINED, mails
// the signed PDFs to every recipient of a completed request, and records
// that it did. Run twice, the event id (the host derives it from run,
// item, block and type) keeps the second publication out of the stream,
// and the mails' idempotency keys keep the second mails unsent.
func (b *Block) emitFinal(ctx context.Context, id string) error {
	r, _, err := b.load(ctx, id)
	if err != nil || r.Emitted {
		return err
	}
	var ev sdk.EventData
	switch r.Status {
	case statusCompleted:
		ev, err = b.completedEvent(ctx, r)
	case statusDeclined:
		ev, err = b.declinedEvent(ctx, r)
	case statusExpired:
		ev, err = b.expiredEvent(ctx, r)
	case statusCancelled:
		ev, err = b.cancelledEvent(ctx, r)
	default:
		return nil
	}
	if err != nil {
		return err
	}
	if err := b.dropPageImages(ctx, r); err != nil {
		return err
	}
	if _, err := b.host().Emit(ctx, r.RunID, r.ItemID, ev); err != nil {
		return sdk.Retryable(err)
	}
	if r.Status == statusCompleted {
		for i := range r.Recipients {
			if err := b.sendSigned(ctx, r, i); err != nil {
				return err
			}
		}
	}
	_, err = b.change(ctx, id, func(x *request) (bool, error) {
		if x.Emitted {
			return false, nil
		}
		x.Emitted = true
		x.log(b.now(), "%s event sent", ev.Type)
		return true, nil
	})
	return err
}

// sendSigned mails recipient i the signed PDFs, or, when the request
// says send_copy: false, only the news that everyone has signed.
func (b *Block) sendSigned(ctx context.Context, r *request, i int) error {
	rc := r.Recipients[i]
	m := sdk.Mail{
		From: r.From, ReplyTo: r.ReplyTo, To: []string{address(rc)}, Subject: "Signed: " + docNames(r.Documents),
		Text:           fmt.Sprintf("Everyone has signed %s.\nThe signed PDF is attached; it carries a digital seal and an audit trail page.\n", docNames(r.Documents)),
		IdempotencyKey: b.mailKey(r, i, "signed"),
	}
	if r.NoCopy {
		m.Text = fmt.Sprintf("Everyone has signed %s.\nThe sender keeps the signed document; ask them if you need a copy.\n", docNames(r.Documents))
	} else {
		for _, d := range r.Signed {
			m.Attachments = append(m.Attachments, sdk.Attachment{DocumentID: d.ID, Filename: d.Name})
		}
	}
	if _, err := b.host().SendMail(ctx, m); err != nil {
		return sdk.Retryable(fmt.Errorf("send signed documents to %s: %w", rc.Email, err))
	}
	return nil
}

// expire closes a request whose time is up and emits SIGNATURES_EXPIRED.
func (b *Block) expire(ctx context.Context, id string) error {
	r, err := b.change(ctx, id, func(x *request) (bool, error) {
		if x.Status != statusPending {
			return false, nil
		}
		now := b.now()
		x.Status = statusExpired
		x.ExpiredAt = now.UTC()
		x.log(now, "Request expired")
		return true, nil
	})
	if err != nil || r.Status != statusExpired || r.Emitted {
		return err
	}
	return b.emitFinal(ctx, id)
}

// errNotCancellable is a cancel of a request that has ended (or is being
// sealed, everyone having signed); notCancellable says how it ended.
var errNotCancellable = errors.New("signature request has ended")

// cancel closes a pending request at its sender's word and emits
// SIGNATURES_CANCELLED: every link of it stops working, and scheduled
// reminders, resends and the expiry find it closed and do nothing. A
// request that has ended is left as it is: errNotCancellable, with the
// request (one whose time ran out is expired first). A settle callback
// registered before the change emits the event should this process die
// before it does.
func (b *Block) cancel(ctx context.Context, id, reason string) (*request, error) {
	if _, _, err := b.load(ctx, id); err != nil {
		return nil, err // no such request: nothing to settle later
	}
	if err := b.host().Schedule(ctx, "settle/"+id+"/cancel", b.now().Add(settleDelay), nil); err != nil {
		return nil, sdk.Retryable(err)
	}
	won, expired := false, false
	r, err := b.change(ctx, id, func(x *request) (bool, error) {
		won, expired = false, false
		if x.Status != statusPending {
			return false, nil
		}
		now := b.now()
		if !now.Before(x.ExpiresAt) {
			expired = true
			return false, nil
		}
		x.Status, x.CancelledAt, x.CancelReason, won = statusCancelled, now.UTC(), reason, true
		if reason != "" {
			x.log(now, "Cancelled by the sender: %q", reason)
		} else {
			x.log(now, "Cancelled by the sender")
		}
		return true, nil
	})
	switch {
	case err != nil:
		return nil, err
	case expired:
		if err := b.expire(ctx, id); err != nil {
			return nil, err
		}
		if r, _, err = b.load(ctx, id); err != nil {
			return nil, err
		}
		return r, errNotCancellable
	case !won:
		return r, errNotCancellable
	}
	if err := b.emitFinal(ctx, id); err != nil {
		b.host().Log(ctx, "error", "signature: SIGNATURES_CANCELLED not sent yet; the scheduled settle tries again", map[string]any{"request": id, "err": err.Error()})
	}
	if now, _, err := b.load(ctx, id); err == nil {
		r = now
	}
	return r, nil
}

// remind re-sends the link to the pending, already invited recipients of
// the current order and registers the next reminder.
func (b *Block) remind(ctx context.Context, id string, n int) error {
	r, open, err := b.loadOpen(ctx, id)
	if err != nil || !open {
		return err
	}
	for _, i := range r.turn() {
		rc := r.Recipients[i]
		if rc.InvitedAt.IsZero() || rc.Reminders >= n {
			continue
		}
		tok, err := b.issueToken(ctx, id, i, false)
		if err != nil {
			return err
		}
		if err := b.sendLink(ctx, r, i, tok, "remind-"+strconv.Itoa(n)); err != nil {
			return err
		}
		if _, err := b.change(ctx, id, func(x *request) (bool, error) {
			if x.Recipients[i].Reminders >= n {
				return false, nil
			}
			x.Recipients[i].Reminders = n
			x.log(b.now(), "Reminder %d sent to %s", n, rc.Email)
			return true, nil
		}); err != nil {
			return err
		}
	}
	if next := r.CreatedAt.Add(time.Duration(n+1) * r.RemindEvery); r.RemindEvery > 0 && next.Before(r.ExpiresAt) {
		if err := b.host().Schedule(ctx, reminderKey(id, n+1), next, nil); err != nil {
			return sdk.Retryable(err)
		}
	}
	return nil
}

// resend mails a new link to recipient i if they may sign now; the n-th
// resend of a recipient is sent once.
func (b *Block) resend(ctx context.Context, id string, i int, n string) error {
	r, _, err := b.load(ctx, id)
	if err != nil {
		return err
	}
	if i < 0 || i >= len(r.Recipients) {
		return fmt.Errorf("signature request %s has no recipient %d", id, i)
	}
	rc := r.Recipients[i]
	if !r.open(b.now()) || !slices.Contains(r.turn(), i) {
		return fmt.Errorf("signature request %s: %s cannot sign now (request %s, recipient %s)", id, rc.Email, r.Status, rc.Status)
	}
	tok, err := b.issueToken(ctx, id, i, false)
	if err != nil {
		return err
	}
	if err := b.sendLink(ctx, r, i, tok, "resend-"+n); err != nil {
		return err
	}
	_, err = b.change(ctx, id, func(x *request) (bool, error) {
		if x.Recipients[i].InvitedAt.IsZero() {
			x.Recipients[i].InvitedAt = b.now().UTC()
		}
		x.log(b.now(), "Invitation sent again to %s", rc.Email)
		return true, nil
	})
	return err
}

// Scheduled implements sdk.Scheduler. Keys:
//
//	expire/<request>            the request's time is up
//	remind/<request>/<n>        the n-th reminder
//	settle/<request>/<x>        finish what a signature or decline started
//	resend/<request>/<i>/<n>    send recipient i a new link (n makes it unique)
//
// An error that waiting cannot fix is logged and the callback dropped;
// others are returned, and the host calls again later.
func (b *Block) Scheduled(ctx context.Context, key string, _ []byte) error {
	kind, rest, _ := strings.Cut(key, "/")
	id, arg, _ := strings.Cut(rest, "/")
	var err error
	switch kind {
	case "expire":
		err = b.expire(ctx, id)
	case "remind":
		n, perr := strconv.Atoi(arg)
		if perr != nil || n < 1 {
			err = fmt.Errorf("bad reminder key %q", key)
			break
		}
		err = b.remind(ctx, id, n)
	case "settle":
		err = b.settle(ctx, id)
	case "resend":
		who, n, _ := strings.Cut(arg, "/")
		i, perr := strconv.Atoi(who)
		if perr != nil {
			err = fmt.Errorf("bad resend key %q", key)
			break
		}
		err = b.resend(ctx, id, i, n)
	default:
		err = fmt.Errorf("unknown callback %q", key)
	}
	if err == nil || errors.Is(err, errNoRequest) {
		return nil
	}
	var be *sdk.Error
	if errors.As(err, &be) && be.Retryable {
		return err
	}
	b.host().Log(ctx, "error", "signature: scheduled callback dropped", map[string]any{"key": key, "err": err.Error()})
	return nil
}

// eventDocuments lists a request's documents as its events show them.
func eventDocuments(docs []document) []events.Document {
	out := make([]events.Document, len(docs))
	for i, d := range docs {
		out[i] = events.Document{ID: d.ID, URL: d.URL, Name: d.Name, Mimetype: d.Mimetype}
	}
	return out
}

func (b *Block) requestedEvent(r *request, links map[int]string) (sdk.EventData, error) {
	rs := make([]events.Recipient, len(r.Recipients))
	for i, rc := range r.Recipients {
		rs[i] = events.Recipient{Email: rc.Email, Name: rc.Name, Order: rc.Order, Status: events.RecipientStatusPending, SignatureURL: b.signURL(links[i])}
	}
	return events.New(events.SignaturesRequestedData{Documents: eventDocuments(r.Documents), Recipients: rs})
}

// finalRecipients lists the recipients for a final event. Their signing
// links no longer work, so signature_url is a receipt link instead: it
// shows the request's outcome and, once completed, fresh links to the
// signed PDFs.
func (b *Block) finalRecipients(ctx context.Context, r *request) ([]events.Recipient, error) {
	rs := make([]events.Recipient, len(r.Recipients))
	for i, rc := range r.Recipients {
		tok, err := b.issueToken(ctx, r.ID, i, true)
		if err != nil {
			return nil, err
		}
		e := events.Recipient{Email: rc.Email, Name: rc.Name, Order: rc.Order, Status: events.RecipientStatusPending, SignatureURL: b.receiptURL(tok)}
		switch rc.Status {
		case recipientSigned:
			e.Status, e.SignedAt = events.RecipientStatusCompleted, rc.SignedAt.UTC().Format(time.RFC3339)
		case recipientDeclined:
			e.Status = events.RecipientStatusDeclined
		}
		rs[i] = e
	}
	return rs, nil
}

func (b *Block) completedEvent(ctx context.Context, r *request) (sdk.EventData, error) {
	rs, err := b.finalRecipients(ctx, r)
	if err != nil {
		return sdk.EventData{}, err
	}
	data := events.SignaturesCompletedData{Documents: eventDocuments(r.Signed), Recipients: rs}
	for _, f := range r.Fields {
		rc := r.Recipients[f.Recipient]
		data.Fields = append(data.Fields, events.FieldValue{Email: rc.Email, Name: f.Name, Type: f.Type, Value: rc.Values[f.Name]})
	}
	return events.New(data)
}

func (b *Block) expiredEvent(ctx context.Context, r *request) (sdk.EventData, error) {
	rs, err := b.finalRecipients(ctx, r)
	if err != nil {
		return sdk.EventData{}, err
	}
	at := r.ExpiredAt
	if at.IsZero() {
		at = r.ExpiresAt
	}
	return events.New(events.SignaturesExpiredData{Documents: eventDocuments(r.Documents), Recipients: rs, ExpiredAt: at.UTC().Format(time.RFC3339)})
}

// viewed records recipient i's first view of the signing page (after
// verification, if asked for) and emits SIGNATURE_REQUEST_VIEWED once.
func (b *Block) viewed(ctx context.Context, req *request, i int, ip, ua string) {
	rc := req.Recipients[i]
	if !rc.ViewedAt.IsZero() && rc.ViewEmitted {
		return
	}
	x, err := b.change(ctx, req.ID, func(x *request) (bool, error) {
		if !x.Recipients[i].ViewedAt.IsZero() {
			return false, nil
		}
		now := b.now()
		x.Recipients[i].ViewedAt = now.UTC()
		x.Recipients[i].ViewIP, x.Recipients[i].ViewUserAgent = ip, ua
		x.log(now, "Opened by %s from %s (%s)", x.Recipients[i].Email, ip, ua)
		return true, nil
	})
	if err != nil || x.Recipients[i].ViewEmitted {
		return
	}
	v := x.Recipients[i]
	ev, err := events.New(events.SignatureRequestViewedData{
		Documents: eventDocuments(x.Documents),
		Recipient: events.Viewer{Email: v.Email, Name: v.Name, Order: v.Order},
		ViewedAt:  v.ViewedAt.UTC().Format(time.RFC3339), IP: v.ViewIP, UserAgent: v.ViewUserAgent,
	})
	if err != nil {
		return
	}
	// One view per recipient: the key (the recipient's address, which a
	// request lists once) keeps the second recipient's view from taking the
	// first one's id and being dropped as its duplicate.
	ev.Key = v.Email
	if _, err := b.host().Emit(ctx, x.RunID, x.ItemID, ev); err != nil {
		b.host().Log(ctx, "error", "signature: SIGNATURE_REQUEST_VIEWED not sent", map[string]any{"request": x.ID, "err": err.Error()})
		return
	}
	_, _ = b.change(ctx, x.ID, func(y *request) (bool, error) {
		if y.Recipients[i].ViewEmitted {
			return false, nil
		}
		y.Recipients[i].ViewEmitted = true
		return true, nil
	})
}

func (b *Block) cancelledEvent(ctx context.Context, r *request) (sdk.EventData, error) {
	rs, err := b.finalRecipients(ctx, r)
	if err != nil {
		return sdk.EventData{}, err
	}
	return events.New(events.SignaturesCancelledData{
		RequestID: r.ID, Documents: eventDocuments(r.Documents), Recipients: rs,
		Reason: r.CancelReason, CancelledAt: r.CancelledAt.UTC().Format(time.RFC3339),
	})
}

// downloaded emits DOCUMENT_DOWNLOADED for document n of req, which
// recipient i has just fetched through their signing page. Every download
// is an event of its own (a random key); a failure is logged, since the
// document has been sent.
func (b *Block) downloaded(ctx context.Context, r *http.Request, req *request, i, n int) {
	d, rc := req.Documents[n], req.Recipients[i]
	ip, _ := clientIP(r)
	ev, err := events.New(events.DocumentDownloadedData{
		Document: events.DownloadedDocument{ID: d.ID, Name: d.Name, Mimetype: d.Mimetype}, MadeBy: d.Source,
		DownloadedAt: b.now().UTC().Format(time.RFC3339), IP: ip, UserAgent: cleanText(r.UserAgent(), 500),
		Via: events.DocumentDownloadedDataViaSigningPage, RecipientEmail: rc.Email,
	})
	if err == nil {
		ev.Key = randomHex(16)
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_, err = b.host().Emit(ectx, req.RunID, req.ItemID, ev)
		cancel()
	}
	if err != nil {
		b.host().Log(ctx, "error", "signature: DOCUMENT_DOWNLOADED not sent", map[string]any{"request": req.ID, "document": d.ID, "err": err.Error()})
	}
}

func (b *Block) declinedEvent(ctx context.Context, r *request) (sdk.EventData, error) {
	rs, err := b.finalRecipients(ctx, r)
	if err != nil {
		return sdk.EventData{}, err
	}
	return events.New(events.SignaturesDeclinedData{Documents: eventDocuments(r.Documents), Recipients: rs, Reason: r.Reason})
}
