package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/paperflow/paperflow/plugins/internal/docfield"
	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
	"github.com/paperflow/paperflow/plugins/signature/pdfsign"
	"github.com/paperflow/paperflow/plugins/signature/requests"
)

// version is reported by Describe.
const version = "0.1.0"

// parallel is how many items of a batch are set up at once.
const parallel = 4

// Block is the signature step. It keeps nothing but its configuration and
// caches: every request lives in the host's KV, so any process of this
// block, on any host, can serve a signing link or a scheduled callback.
type Block struct {
	cfg    sdk.Config
	static config
	// now is the clock (tests set it).
	now func() time.Time

	sealMu sync.Mutex
	seal   *pdfsign.Signer // loaded from KV on first use

	// rateLimits are the signing pages' limits in this process (limits.go);
	// tests may set them before the first request.
	limitsOnce sync.Once
	rateLimits *signLimits
}

var (
	_ sdk.Step      = (*Block)(nil)
	_ sdk.Router    = (*Block)(nil)
	_ sdk.Scheduler = (*Block)(nil)
)

// Describe implements sdk.Block: block.json and version.
func (*Block) Describe() sdk.Descriptor { return descriptor }

// Configure implements sdk.Block.
func (b *Block) Configure(_ context.Context, c sdk.Config) error {
	var cfg config
	if err := c.Decode(&cfg); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if _, err := configuredSealer(c.Settings[sdk.SettingSigningCert]); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if len(cfg.Documents) == 0 {
		return errors.New("signature: with.documents is required: the ids of earlier blocks whose PDFs are signed, e.g. [contract]")
	}
	for i, id := range cfg.Documents {
		if strings.TrimSpace(id) == "" {
			return fmt.Errorf("signature: documents[%d] is empty: give the id of an earlier block, e.g. contract, or a field holding an uploaded PDF, e.g. \"{{contract}}\"", i)
		}
	}
	if len(cfg.Recipients) == 0 {
		return errors.New("signature: with.recipients is required, e.g. [{email: \"{{Email}}\", name: \"{{Name}}\"}]")
	}
	if !tags.HasTags(cfg.ExpiresIn) && !tags.HasTags(cfg.RemindEvery) {
		if _, _, err := cfg.durations(); err != nil {
			return fmt.Errorf("signature: %w", err)
		}
	}
	b.cfg, b.static = c, cfg
	if b.now == nil {
		b.now = time.Now
	}
	return nil
}

func (b *Block) host() sdk.Host { return b.cfg.Host }

// base is where this block's routes are: <public URL>/blocks/<workflow>/<block>.
func (b *Block) base() string {
	return strings.TrimRight(b.cfg.PublicURL, "/") + "/blocks/" + b.cfg.Workflow + "/" + b.cfg.BlockID
}

func (b *Block) signURL(token string) string    { return b.base() + "/sign/" + token }
func (b *Block) receiptURL(token string) string { return b.base() + "/receipt/" + token }

// Process implements sdk.Step: one signature request per item.
func (b *Block) Process(ctx context.Context, items []sdk.Item) []sdk.Result {
	return sdk.ProcessEach(ctx, items, parallel, b.one)
}

// one sets up the request of one item: state, links, invitations of the
// first signing order, scheduled expiry and reminders, and the
// SIGNATURES_REQUESTED event. A retried item finds its request (the id is
// derived from run and item) and does not invite anyone twice.
func (b *Block) one(ctx context.Context, it sdk.Item) sdk.Result {
	if b.host() == nil {
		return sdk.Result{Err: errors.New("signature: Process before Configure")}
	}
	if b.cfg.PublicURL == "" {
		return sdk.Result{Err: errors.New("signature: the host has no public URL for signing links: set --public-url (PAPERFLOW_PUBLIC_URL)")}
	}
	var with config
	if err := it.DecodeConfig(b.cfg.With, &with); err != nil {
		return sdk.Result{Err: fmt.Errorf("signature: %w", err)}
	}
	signers, err := with.signers()
	if err != nil {
		return sdk.Result{Err: fmt.Errorf("signature: %w", err)}
	}
	expires, remind, err := with.durations()
	if err != nil {
		return sdk.Result{Err: fmt.Errorf("signature: %w", err)}
	}
	from, replyTo, err := with.senders()
	if err != nil {
		return sdk.Result{Err: fmt.Errorf("signature: %w", err)}
	}
	docs, data, err := b.itemDocuments(ctx, it, with.Documents)
	if err != nil {
		return sdk.Result{Err: fmt.Errorf("signature: %w", err)}
	}
	fields, err := b.placeFields(ctx, signers, docs, data)
	if err != nil {
		return sdk.Result{Err: fmt.Errorf("signature: %w", err)}
	}
	now := b.now().UTC()
	r := &request{
		Lifecycle: requests.Lifecycle{
			ID: requestID(b.cfg.Workflow, b.cfg.BlockID, it.RunID, it.ID), RunID: it.RunID, ItemID: it.ID,
			Status: statusPending, CreatedAt: now, ExpiresAt: now.Add(expires),
		},
		RemindEvery: remind, Subject: oneLine(with.Subject, 500), Message: strings.TrimSpace(with.Message),
		From: from, ReplyTo: replyTo, Documents: docs, Fields: fields, NoCopy: !with.sendCopy(),
	}
	if r.Subject == "" {
		r.Subject = "Please sign: " + docNames(docs)
	}
	for _, s := range signers {
		r.Recipients = append(r.Recipients, recipient{
			Recipient: requests.Recipient{Email: s.Email, Name: s.Name, Order: s.Order, Status: recipientPending},
			Verify:    s.Verify,
		})
	}
	r.log(now, "Request created for %s", docNames(docs))
	created, err := b.create(ctx, r)
	if err != nil {
		return sdk.Result{Err: err}
	}
	if !created {
		// A retry of this item: carry on with the stored request.
		if r, _, err = b.load(ctx, r.ID); err != nil {
			return sdk.Result{Err: err}
		}
	}
	// One link per recipient for the event; the first signing order gets
	// the same link by mail.
	links := make(map[int]string, len(r.Recipients))
	for i := range r.Recipients {
		tok, err := b.issueToken(ctx, r.ID, i, false)
		if err != nil {
			return sdk.Result{Err: err}
		}
		links[i] = tok
	}
	if err := b.inviteCurrent(ctx, r.ID, links); err != nil {
		return sdk.Result{Err: err}
	}
	if err := b.scheduleFollowUps(ctx, r); err != nil {
		return sdk.Result{Err: err}
	}
	ev, err := b.requestedEvent(r, links)
	if err != nil {
		return sdk.Result{Err: err}
	}
	return sdk.Result{
		Outputs: map[string]any{"request_id": r.ID, "status": statusPending},
		Events:  []sdk.EventData{ev},
	}
}

// itemDocuments collects the item's documents of the documents entries,
// and their contents. An entry is the id of an earlier block (its
// documents), or a tag that gives documents for the item: a field holding
// uploaded files, as a form or the items API puts them ("{{contract}}"
// renders {"id": ..., "name": ...} or a list of those). An entry that
// renders empty (an optional upload left out) adds nothing, but an item
// must have something to sign.
func (b *Block) itemDocuments(ctx context.Context, it sdk.Item, entries []string) ([]document, [][]byte, error) {
	var blocks map[string]json.RawMessage
	if len(it.RawBlocks) > 0 {
		if err := json.Unmarshal(it.RawBlocks, &blocks); err != nil {
			return nil, nil, fmt.Errorf("earlier blocks' outputs: %w", err)
		}
	}
	var out []document
	var contents [][]byte
	for _, entry := range entries {
		id := strings.TrimSpace(entry)
		if id == "" {
			continue
		}
		var o struct {
			Documents []document `json:"documents"`
			Skipped   bool       `json:"skipped"`
		}
		from, field := "block "+id, docfield.Is(id)
		if field {
			docs, err := docfield.Parse(id, "PDF")
			if err != nil {
				return nil, nil, fmt.Errorf("documents: %w", err)
			}
			for _, d := range docs {
				o.Documents = append(o.Documents, document{ID: d.ID, Name: d.Name, Mimetype: d.Mimetype, URL: d.URL})
			}
			from = "the field"
		} else if raw, ok := blocks[id]; ok {
			if err := json.Unmarshal(raw, &o); err != nil {
				return nil, nil, fmt.Errorf("documents: outputs of block %s: %w", id, err)
			}
		}
		if len(o.Documents) == 0 {
			why := "made no documents for this item"
			if o.Skipped {
				why = "skipped this item"
			}
			return nil, nil, fmt.Errorf("documents: %s %s: nothing to sign", from, why)
		}
		for _, d := range o.Documents {
			if d.ID == "" {
				return nil, nil, fmt.Errorf("documents: %s gave a document without an id", from)
			}
			var data []byte
			if field {
				// What the store knows, not what the item says.
				meta, content, err := b.host().GetDocument(ctx, d.ID)
				if err != nil {
					return nil, nil, sdk.Retryable(fmt.Errorf("documents: %q from the field: %w", d.Name, err))
				}
				d.Name, d.Mimetype, d.URL, data = meta.Name, meta.Mimetype, meta.URL, content
			}
			if !strings.HasPrefix(strings.ToLower(d.Mimetype), "application/pdf") {
				return nil, nil, fmt.Errorf("documents: %q from %s is %s; only PDFs can be signed (a Word template can make one with formats: [pdf])", d.Name, from, d.Mimetype)
			}
			if data == nil {
				_, content, err := b.host().GetDocument(ctx, d.ID)
				if err != nil {
					return nil, nil, sdk.Retryable(fmt.Errorf("documents: %q from %s: %w", d.Name, from, err))
				}
				data = content
			}
			if err := checkSealable(d.Name, data); err != nil {
				return nil, nil, err
			}
			if d.URL == "" {
				u, err := b.host().DocumentURL(ctx, d.ID, 0)
				if err != nil {
					return nil, nil, sdk.Retryable(err)
				}
				d.URL = u
			}
			if !field {
				d.Source = id
			}
			out = append(out, d)
			contents = append(contents, data)
		}
	}
	if len(out) == 0 {
		return nil, nil, errors.New("documents: nothing to sign for this item (every field named under documents is empty)")
	}
	return out, contents, nil
}

func docNames(docs []document) string {
	names := make([]string, len(docs))
	for i, d := range docs {
		names[i] = d.Name
	}
	return strings.Join(names, ", ")
}

// oneLine keeps a header value on one line.
func oneLine(s string, max int) string { return cleanText(s, max) }

// scheduleFollowUps registers the expiry and the first reminder. The host
// registers a key once, so calling this again (a retried item) adds
// nothing.
func (b *Block) scheduleFollowUps(ctx context.Context, r *request) error {
	if err := b.host().Schedule(ctx, "expire/"+r.ID, r.ExpiresAt, nil); err != nil {
		return sdk.Retryable(err)
	}
	if r.RemindEvery > 0 {
		if at := r.CreatedAt.Add(r.RemindEvery); at.Before(r.ExpiresAt) {
			if err := b.host().Schedule(ctx, reminderKey(r.ID, 1), at, nil); err != nil {
				return sdk.Retryable(err)
			}
		}
	}
	return nil
}

func reminderKey(id string, n int) string { return fmt.Sprintf("remind/%s/%d", id, n) }
