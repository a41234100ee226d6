package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"

	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
)

// Host is what the paperflow host offers a block: the composition of the
// small interfaces below. Everything a block must remember lives here, so a
// block process can crash, restart, or run next to other hosts without
// losing anything. A block that needs only part of it keeps only that part
// (a Documents, a State...), which is also all its unit test must fake.
type Host interface {
	Documents
	State
	StateLister
	Mailer
	Emitter
	Schedules
	Logger
}

// Documents stores and serves files; blocks pass them to each other by id.
type Documents interface {
	// PutDocument stores a file and returns its descriptor (with a signed,
	// expiring URL).
	PutDocument(ctx context.Context, name, mimetype string, data []byte) (Document, error)
	// GetDocument loads a stored file.
	GetDocument(ctx context.Context, id string) (Document, []byte, error)
	// DocumentURL signs a fresh URL for a stored file.
	DocumentURL(ctx context.Context, id string, ttl time.Duration) (string, error)
}

// State is the block's key-value state, kept by the host and private to
// one block of one workflow.
type State interface {
	// KVGet reads the block's state; found is false for a missing key.
	KVGet(ctx context.Context, key string) (value []byte, revision uint64, found bool, err error)
	// KVPut writes only when the key is at expectRevision (0: must not
	// exist) and returns ErrConflict otherwise: the building block of
	// exactly-once work across several hosts.
	KVPut(ctx context.Context, key string, value []byte, expectRevision uint64) (uint64, error)
	// KVSet writes unconditionally.
	KVSet(ctx context.Context, key string, value []byte) (uint64, error)
	// KVDelete removes a key; a missing key is not an error.
	KVDelete(ctx context.Context, key string) error
}

// StateLister lists the block's own state keys, so a block can answer
// "which requests do I have" without keeping an index of its own. It is
// apart from State so that a fake State needs no listing.
type StateLister interface {
	// KVKeys returns, in order, up to limit of the block's keys that start
	// with prefix and sort after after (empty: from the first); more says
	// whether keys remain. A limit of 0 or above MaxKVKeys means MaxKVKeys.
	// To read them all, call again with after set to the last key returned.
	KVKeys(ctx context.Context, prefix, after string, limit int) (keys []string, more bool, err error)
}

// MaxKVKeys bounds one page of KVKeys, so a listing fits in one message.
const MaxKVKeys = 1000

// KeysPage is one page of KVKeys out of all of a block's keys (in any
// order), for a Host that holds them in memory.
func KeysPage(all []string, prefix, after string, limit int) (page []string, more bool) {
	if limit <= 0 || limit > MaxKVKeys {
		limit = MaxKVKeys
	}
	for _, k := range all {
		if strings.HasPrefix(k, prefix) && k > after {
			page = append(page, k)
		}
	}
	slices.Sort(page)
	if len(page) > limit {
		return page[:limit], true
	}
	return page, false
}

// Mailer sends mail through the host's transport (SMTP or the outbox).
type Mailer interface {
	// SendMail sends m. A second call with the same IdempotencyKey returns
	// the first message id and sends nothing.
	SendMail(ctx context.Context, m Mail) (messageID string, err error)
}

// Emitter publishes events that happen later than Process.
type Emitter interface {
	// Emit publishes an event (e.g. SIGNATURES_COMPLETED) for an item of a
	// run; the host gives it its deterministic id and validates it.
	Emit(ctx context.Context, runID, itemID string, ev EventData) (eventID string, err error)
}

// Schedules registers callbacks at a time (reminders, expiry); the block
// receives them as a Scheduler.
type Schedules interface {
	// Schedule asks for a Scheduled(key, payload) callback at (or soon
	// after) at. Registering the same key again replaces nothing: the first
	// registration stands, and it fires once even with several hosts.
	Schedule(ctx context.Context, key string, at time.Time, payload []byte) error
}

// Logger writes to the host's structured log, beside the host's own lines.
type Logger interface {
	// Log writes msg at level ("debug", "info", "warn", "error") with attrs.
	Log(ctx context.Context, level, msg string, attrs map[string]any)
}

// ErrConflict is returned by Host.KVPut when the revision did not match.
var ErrConflict = errors.New("kv: revision conflict")

// Mail is a message for Host.SendMail.
type Mail struct {
	From, ReplyTo  string
	To, Cc, Bcc    []string
	Subject        string
	Text, HTML     string
	Attachments    []Attachment
	IdempotencyKey string
}

// Attachment names a stored document to attach.
type Attachment struct {
	DocumentID string
	Filename   string
}

// bigMessages lets documents up to the host's size limit through gRPC.
var bigMessages = []grpc.CallOption{grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)}

// hostClient is the plugin-side Host, calling back into the host process.
type hostClient struct {
	c blockv1.HostClient
}

var _ Host = (*hostClient)(nil)

func (h *hostClient) PutDocument(ctx context.Context, name, mimetype string, data []byte) (Document, error) {
	d, err := h.c.PutDocument(ctx, &blockv1.PutDocumentRequest{Name: name, Mimetype: mimetype, Data: data}, bigMessages...)
	if err != nil {
		return Document{}, fmt.Errorf("host: put document %q: %w", name, err)
	}
	return DocumentFromProto(d), nil
}

func (h *hostClient) GetDocument(ctx context.Context, id string) (Document, []byte, error) {
	r, err := h.c.GetDocument(ctx, &blockv1.GetDocumentRequest{Id: id}, bigMessages...)
	if err != nil {
		return Document{}, nil, fmt.Errorf("host: get document %s: %w", id, err)
	}
	return DocumentFromProto(r.Document), r.Data, nil
}

func (h *hostClient) DocumentURL(ctx context.Context, id string, ttl time.Duration) (string, error) {
	r, err := h.c.DocumentURL(ctx, &blockv1.DocumentURLRequest{Id: id, TtlSeconds: int64(ttl / time.Second)})
	if err != nil {
		return "", fmt.Errorf("host: document url %s: %w", id, err)
	}
	return r.Url, nil
}

func (h *hostClient) KVGet(ctx context.Context, key string) ([]byte, uint64, bool, error) {
	r, err := h.c.KVGet(ctx, &blockv1.KVGetRequest{Key: key})
	if err != nil {
		return nil, 0, false, fmt.Errorf("host: kv get %s: %w", key, err)
	}
	return r.Value, r.Revision, r.Found, nil
}

func (h *hostClient) KVPut(ctx context.Context, key string, value []byte, expectRevision uint64) (uint64, error) {
	r, err := h.c.KVPut(ctx, &blockv1.KVPutRequest{Key: key, Value: value, ExpectRevision: expectRevision})
	if err != nil {
		return 0, fmt.Errorf("host: kv put %s: %w", key, err)
	}
	if r.Conflict {
		return 0, ErrConflict
	}
	return r.Revision, nil
}

func (h *hostClient) KVSet(ctx context.Context, key string, value []byte) (uint64, error) {
	r, err := h.c.KVPut(ctx, &blockv1.KVPutRequest{Key: key, Value: value, Unconditional: true})
	if err != nil {
		return 0, fmt.Errorf("host: kv set %s: %w", key, err)
	}
	return r.Revision, nil
}

func (h *hostClient) KVDelete(ctx context.Context, key string) error {
	if _, err := h.c.KVDelete(ctx, &blockv1.KVDeleteRequest{Key: key}); err != nil {
		return fmt.Errorf("host: kv delete %s: %w", key, err)
	}
	return nil
}

func (h *hostClient) KVKeys(ctx context.Context, prefix, after string, limit int) ([]string, bool, error) {
	r, err := h.c.KVKeys(ctx, &blockv1.KVKeysRequest{Prefix: prefix, After: after, Limit: int32(min(max(limit, 0), MaxKVKeys))})
	if err != nil {
		return nil, false, fmt.Errorf("host: kv keys %q: %w", prefix, err)
	}
	return r.Keys, r.More, nil
}

func (h *hostClient) SendMail(ctx context.Context, m Mail) (string, error) {
	req := &blockv1.SendMailRequest{
		From: m.From, To: m.To, Cc: m.Cc, Bcc: m.Bcc, ReplyTo: m.ReplyTo,
		Subject: m.Subject, Text: m.Text, Html: m.HTML, IdempotencyKey: m.IdempotencyKey,
	}
	for _, a := range m.Attachments {
		req.Attachments = append(req.Attachments, &blockv1.Attachment{DocumentId: a.DocumentID, Filename: a.Filename})
	}
	r, err := h.c.SendMail(ctx, req)
	if err != nil {
		return "", fmt.Errorf("host: send mail: %w", err)
	}
	return r.MessageId, nil
}

func (h *hostClient) Emit(ctx context.Context, runID, itemID string, ev EventData) (string, error) {
	r, err := h.c.Emit(ctx, &blockv1.EmitRequest{RunId: runID, ItemId: itemID, Event: &blockv1.EventData{Type: ev.Type, Data: ev.Data, Key: ev.Key}})
	if err != nil {
		return "", fmt.Errorf("host: emit %s: %w", ev.Type, err)
	}
	return r.EventId, nil
}

func (h *hostClient) Schedule(ctx context.Context, key string, at time.Time, payload []byte) error {
	if _, err := h.c.Schedule(ctx, &blockv1.ScheduleRequest{Key: key, AtUnixMs: at.UnixMilli(), Payload: payload}); err != nil {
		return fmt.Errorf("host: schedule %s: %w", key, err)
	}
	return nil
}

func (h *hostClient) Log(ctx context.Context, level, msg string, attrs map[string]any) {
	raw, _ := json.Marshal(attrs)
	_, _ = h.c.Log(ctx, &blockv1.LogRequest{Level: level, Message: msg, Attrs: raw})
}

// DocumentFromProto converts a wire Document.
func DocumentFromProto(d *blockv1.Document) Document {
	if d == nil {
		return Document{}
	}
	return Document{ID: d.Id, Name: d.Name, Mimetype: d.Mimetype, URL: d.Url, Size: d.Size, SHA256: d.Sha256}
}

// DocumentToProto converts a Document for the wire; the host uses it too.
func DocumentToProto(d Document) *blockv1.Document {
	return &blockv1.Document{Id: d.ID, Name: d.Name, Mimetype: d.Mimetype, Url: d.URL, Size: d.Size, Sha256: d.SHA256}
}
