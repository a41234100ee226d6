package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/mail"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paperflow/paperflow/plugins/internal/docfield"
	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/events"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// version is reported by Describe.
const version = "0.1.0"

// parallel is how many messages of a batch are handed to the host at once:
// the host's SMTP transport keeps a few connections open, and one slow
// server reply should not hold up the rest of the batch.
const parallel = 4

// maxTemplateBytes bounds an html_template file.
const maxTemplateBytes = 1 << 20

// Block is the email step. It keeps only its configuration: what it sent
// is remembered by the host (the idempotency key of Host.SendMail), so a
// restarted process never sends an item's email twice.
type Block struct {
	cfg   sdk.Config
	rules *sendRules
	html  *tags.Template // from html_template; nil when none
	// to, cc, bcc, from and reply_to as written, in that order.
	addrs [5]*addressField
	// dynamic is true when some address field inserts item values.
	dynamic bool
}

// The address fields, in the order of Block.addrs.
const (
	fieldTo = iota
	fieldCc
	fieldBcc
	fieldFrom
	fieldReplyTo
)

var addressFieldNames = [5]string{"to", "cc", "bcc", "from", "reply_to"}

// addressFields lists the address fields of a `with:` in the order of
// Block.addrs; from and reply_to are single strings, so no lists.
func addressFields(c config) [5]addressList {
	one := func(s string) addressList {
		if s == "" {
			return nil
		}
		return addressList{{Text: s}}
	}
	return [5]addressList{c.To, c.Cc, c.Bcc, one(c.From), one(c.ReplyTo)}
}

var _ sdk.Step = (*Block)(nil)

// Describe implements sdk.Block: block.json and version.
func (*Block) Describe() sdk.Descriptor { return descriptor }

// Configure implements sdk.Block: it checks what can be checked before any
// item, compiles the send rules and parses html_template.
func (b *Block) Configure(_ context.Context, c sdk.Config) error {
	var cfg config
	if err := c.Decode(&cfg); err != nil {
		return fmt.Errorf("email: %w", err)
	}
	if len(cfg.To) == 0 {
		return errors.New("email: with.to is required: the recipient, e.g. \"{{Email}}\"")
	}
	if cfg.HTML != "" && cfg.HTMLTemplate != "" {
		return errors.New("email: set html or html_template, not both")
	}
	for i, id := range cfg.Attach {
		if strings.TrimSpace(id) == "" {
			return fmt.Errorf("email: attach[%d] is empty: give the id of an earlier block, e.g. invoice, or a field holding uploaded files, e.g. \"{{cv}}\"", i)
		}
	}
	rules, err := compileRules(cfg.When)
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	b.cfg, b.rules, b.html, b.dynamic = c, rules, nil, false
	for i, l := range addressFields(cfg) {
		if b.addrs[i], err = compileAddresses(addressFieldNames[i], l); err != nil {
			return fmt.Errorf("email: %w", err)
		}
		b.dynamic = b.dynamic || b.addrs[i].dynamic()
	}
	if cfg.HTMLTemplate != "" {
		if b.html, err = loadTemplate(c.WorkflowDir, cfg.HTMLTemplate); err != nil {
			return fmt.Errorf("email: html_template: %w", err)
		}
	}
	return nil
}

func loadTemplate(dir, path string) (*tags.Template, error) {
	if !filepath.IsAbs(path) && dir != "" {
		path = filepath.Join(dir, path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%v (paths are relative to the workflow file)", err)
	}
	if st.Size() > maxTemplateBytes {
		return nil, fmt.Errorf("%s is %d bytes; at most %d", path, st.Size(), maxTemplateBytes)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := tags.Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("%s:%v", path, err) // a *tags.SyntaxError reads line:col: message
	}
	return t, nil
}

// Process implements sdk.Step: one email per item, a few at a time.
func (b *Block) Process(ctx context.Context, items []sdk.Item) []sdk.Result {
	return sdk.ProcessEach(ctx, items, parallel, b.one)
}

// one sends the email of one item, or says why it did not.
func (b *Block) one(ctx context.Context, it sdk.Item) sdk.Result {
	if b.cfg.Host == nil {
		return sdk.Result{Err: errors.New("email: Process before Configure")}
	}
	var with config
	if err := it.DecodeConfig(b.cfg.With, &with); err != nil {
		return sdk.Result{Err: fmt.Errorf("email: %w", err)}
	}
	var scope tags.Scope
	if b.rules != nil || b.html != nil || len(with.Attach) > 0 || b.dynamic {
		var err error
		if scope, err = itemScope(it); err != nil {
			return sdk.Result{Err: fmt.Errorf("email: %w", err)}
		}
	}
	if b.rules != nil {
		ok, why, err := b.rules.match(scope, ruleValues(with.When))
		if err != nil {
			return sdk.Result{Err: fmt.Errorf("email: %w", err)}
		}
		if !ok {
			return sdk.Result{Skipped: true, Outputs: map[string]any{"reason": why}}
		}
	}
	m, lists, err := b.message(with, scope)
	if err != nil {
		return sdk.Result{Err: fmt.Errorf("email: %w", err)}
	}
	m.IdempotencyKey = it.RunID + "/" + it.ID + "/" + b.cfg.BlockID
	id, err := b.cfg.Host.SendMail(ctx, m)
	if err != nil {
		return sdk.Result{Err: sendError(err)}
	}
	to := lists[fieldTo]
	ev, err := events.New(events.EmailsCreatedData{Emails: []events.Email{emailPayload(lists, m.Subject, id)}})
	if err != nil {
		return sdk.Result{Err: err}
	}
	return sdk.Result{Outputs: map[string]any{"message_id": id, "to": bare(to)}, Events: []sdk.EventData{ev}}
}

// emailPayload is one email of EMAILS_CREATED. "to" is one string, the
// addresses joined by ", ", as in the payloads receivers were written
// against; cc and bcc are lists, present only when the mail has them.
func emailPayload(lists [5][]*mail.Address, subject, messageID string) events.Email {
	out := events.Email{To: strings.Join(bare(lists[fieldTo]), ", "), Subject: subject, MessageID: messageID}
	if cc := lists[fieldCc]; len(cc) > 0 {
		out.Cc = bare(cc)
	}
	if bcc := lists[fieldBcc]; len(bcc) > 0 {
		out.Bcc = bare(bcc)
	}
	return out
}

// message builds the item's mail from its resolved configuration and
// returns it with its address lists (indexed like addressFieldNames),
// naming the `with:` field of any problem.
func (b *Block) message(with config, scope tags.Scope) (sdk.Mail, [5][]*mail.Address, error) {
	var m sdk.Mail
	var lists [5][]*mail.Address
	for i, l := range addressFields(with) {
		var err error
		if lists[i], err = b.addrs[i].addresses(l, scope); err != nil {
			return m, lists, err
		}
	}
	to := lists[fieldTo]
	if len(to) == 0 {
		return m, lists, errors.New("to: no address for this item (the value is empty)")
	}
	m.To, m.Cc, m.Bcc = formatted(to), formatted(lists[fieldCc]), formatted(lists[fieldBcc])
	for _, f := range []struct {
		i   int
		dst *string
	}{{fieldFrom, &m.From}, {fieldReplyTo, &m.ReplyTo}} {
		switch l := lists[f.i]; len(l) {
		case 0:
		case 1:
			*f.dst = l[0].String()
		default:
			return m, lists, fmt.Errorf("%s: %q holds %d addresses; give one", addressFieldNames[f.i], strings.Join(bare(l), ", "), len(l))
		}
	}
	if strings.ContainsAny(with.Subject, "\r\n") {
		return m, lists, fmt.Errorf("subject: %q contains a line break (header injection refused)", with.Subject)
	}
	m.Subject, m.Text, m.HTML = with.Subject, with.Text, with.HTML
	var err error
	if b.html != nil {
		scope.Escape = html.EscapeString
		if m.HTML, err = b.html.Render(scope); err != nil {
			return m, lists, fmt.Errorf("html_template: %v", err)
		}
	}
	if m.Attachments, err = attachments(with.Attach, scope.Blocks); err != nil {
		return m, lists, err
	}
	return m, lists, nil
}

// attachments lists the documents of the attach entries for this item.
// An entry is the id of an earlier block (its documents), or a tag that
// gives documents for the item: a field holding uploaded files, as a form
// or the items API puts them ("{{cv}}" renders {"id": ..., "name": ...} or
// a list of those). An entry that renders empty (an optional upload left
// out) attaches nothing.
func attachments(entries []string, blocks map[string]any) ([]sdk.Attachment, error) {
	var out []sdk.Attachment
	for _, entry := range entries {
		entry = strings.TrimSpace(entry)
		switch {
		case entry == "":
			continue
		case docfield.Is(entry):
			docs, err := docfield.Parse(entry, "file")
			if err != nil {
				return nil, fmt.Errorf("attach: %w", err)
			}
			for _, d := range docs {
				out = append(out, sdk.Attachment{DocumentID: d.ID, Filename: d.Name})
			}
			continue
		}
		id := entry
		outputs, _ := blocks[id].(map[string]any)
		docs, _ := outputs["documents"].([]any)
		if len(docs) == 0 {
			why := "made no documents"
			if outputs == nil {
				why = "has no output (it has not run before this block)"
			} else if skipped, _ := outputs["skipped"].(bool); skipped {
				why = "was skipped"
			}
			return nil, fmt.Errorf("attach: block %q %s for this item, so there is nothing to attach", id, why)
		}
		for _, d := range docs {
			doc, _ := d.(map[string]any)
			docID, _ := doc["id"].(string)
			name, _ := doc["name"].(string)
			if docID == "" {
				return nil, fmt.Errorf("attach: a document of block %q has no id", id)
			}
			out = append(out, sdk.Attachment{DocumentID: docID, Filename: name})
		}
	}
	return out, nil
}

// itemScope is what tags in the send rules and html_template see.
func itemScope(it sdk.Item) (tags.Scope, error) {
	fields, err := it.Fields()
	if err != nil {
		return tags.Scope{}, err
	}
	blocks, err := it.Blocks()
	if err != nil {
		return tags.Scope{}, err
	}
	return tags.Scope{Fields: fields, Blocks: blocks}, nil
}

// ruleValues are the rules' values as resolved for the item.
func ruleValues(w *when) []string {
	if w == nil {
		return nil
	}
	list, _ := w.rules()
	out := make([]string, len(list))
	for i, r := range list {
		out[i] = valueText(r.Value)
	}
	return out
}

// temporaryMarker is the phrase host/mail puts in every transient send
// error (mail.TemporaryMarker); the host's error crosses the plugin
// boundary as text.
const temporaryMarker = "temporary failure"

// sendError turns a Host.SendMail failure into the item's error: retryable
// when the mail server may take the message later (a 4xx reply, a dropped
// connection), so the host tries the item again with backoff; permanent
// otherwise (a 5xx reply, an invalid message), with the server's reply.
func sendError(err error) error {
	msg, code := err.Error(), codes.Unknown
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(err, &gs) && gs.GRPCStatus() != nil {
		msg, code = gs.GRPCStatus().Message(), gs.GRPCStatus().Code()
	}
	e := fmt.Errorf("email: send: %s", msg)
	if code == codes.Unavailable || code == codes.DeadlineExceeded || strings.Contains(msg, temporaryMarker) {
		return sdk.Retryable(e)
	}
	return e
}
