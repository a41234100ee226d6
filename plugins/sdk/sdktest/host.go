// Package sdktest runs paperflow blocks in tests without a paperflow host:
// an in-memory Host with the real host's contracts, and a harness that
// configures a block and feeds it items, either in process (calling the
// Block directly) or as a built binary through the real go-plugin boundary.
// Both take milliseconds and need no NATS.
//
//	h := sdktest.NewHost()
//	out := sdktest.Process(t, func() sdk.Block { return &myBlock{} }, sdktest.Config{With: `{"greeting": "Hi"}`, Host: h},
//		map[string]any{"Name": "Ada"})
//	// out.Results[0].Outputs, h.Documents(), h.Emitted(), h.State()
package sdktest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// Host is an in-memory sdk.Host with the same contracts as the real one:
// compare-and-set KV with revisions and sdk.ErrConflict, idempotent mail,
// events deduplicated per (run, item, type) as the host's deterministic
// event ids do, and schedules registered once. Its zero value is not
// usable; call NewHost. It is safe for concurrent use.
type Host struct {
	// BaseURL prefixes document URLs (default http://127.0.0.1:1), e.g. to
	// check the links a block writes into mail.
	BaseURL string

	mu        sync.Mutex
	docs      []StoredDocument // in the order they were put
	kv        map[string]entry
	rev       uint64
	mails     []Mail
	mailIDs   map[string]string
	emitted   []Emitted
	schedules []Schedule // in registration order, one per key
	logs      []LogEntry
}

var _ sdk.Host = (*Host)(nil)

// StoredDocument is a document the block stored, with its bytes.
type StoredDocument struct {
	sdk.Document
	Data []byte
}

type entry struct {
	value []byte
	rev   uint64
}

// Mail is a message the block sent, with the id the host answered.
type Mail struct {
	sdk.Mail
	MessageID string
}

// Emitted is an event the block published with Host.Emit.
type Emitted struct {
	RunID, ItemID string
	sdk.EventData
	EventID string
}

// Schedule is a callback the block registered.
type Schedule struct {
	Key     string
	At      time.Time
	Payload []byte
}

// LogEntry is one Host.Log line.
type LogEntry struct {
	Level, Message string
	Attrs          map[string]any
}

// NewHost returns an empty in-memory host.
func NewHost() *Host {
	return &Host{kv: map[string]entry{}, mailIDs: map[string]string{}}
}

// docIndex finds a document by id; -1 when there is none. Callers hold mu.
func (h *Host) docIndex(id string) int {
	return slices.IndexFunc(h.docs, func(d StoredDocument) bool { return d.ID == id })
}

func (h *Host) baseURL() string {
	if h.BaseURL == "" {
		return "http://127.0.0.1:1"
	}
	return strings.TrimRight(h.BaseURL, "/")
}

// PutDocument stores data under an id derived from its order and content.
func (h *Host) PutDocument(_ context.Context, name, mimetype string, data []byte) (sdk.Document, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sum := sha256.Sum256(data)
	id := fmt.Sprintf("%04d%s", len(h.docs)+1, hex.EncodeToString(sum[:8]))
	d := sdk.Document{
		ID: id, Name: name, Mimetype: mimetype, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]),
		URL: h.baseURL() + "/documents/" + id + "/" + url.PathEscape(name) + "?exp=1&sig=x",
	}
	h.docs = append(h.docs, StoredDocument{d, bytes.Clone(data)})
	return d, nil
}

// GetDocument loads a stored document.
func (h *Host) GetDocument(_ context.Context, id string) (sdk.Document, []byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := h.docIndex(id)
	if i < 0 {
		return sdk.Document{}, nil, fmt.Errorf("document %s not found", id)
	}
	return h.docs[i].Document, bytes.Clone(h.docs[i].Data), nil
}

// DocumentURL signs a fresh URL for a stored document.
func (h *Host) DocumentURL(_ context.Context, id string, _ time.Duration) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.docIndex(id) < 0 {
		return "", fmt.Errorf("document %s not found", id)
	}
	return h.baseURL() + "/documents/" + id + "?fresh=1", nil
}

// KVGet reads a key.
func (h *Host) KVGet(_ context.Context, key string) ([]byte, uint64, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.kv[key]
	return bytes.Clone(e.value), e.rev, ok, nil
}

// KVPut writes when the key is at expect (0: absent), else sdk.ErrConflict.
func (h *Host) KVPut(_ context.Context, key string, value []byte, expect uint64) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.kv[key].rev != expect {
		return 0, sdk.ErrConflict
	}
	return h.setLocked(key, value), nil
}

// KVSet writes unconditionally.
func (h *Host) KVSet(_ context.Context, key string, value []byte) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.setLocked(key, value), nil
}

func (h *Host) setLocked(key string, value []byte) uint64 {
	h.rev++
	h.kv[key] = entry{bytes.Clone(value), h.rev}
	return h.rev
}

// KVDelete removes a key.
func (h *Host) KVDelete(_ context.Context, key string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.kv, key)
	return nil
}

// KVKeys lists keys by prefix, a page at a time, as the host does.
func (h *Host) KVKeys(_ context.Context, prefix, after string, limit int) ([]string, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys, more := sdk.KeysPage(slices.Collect(maps.Keys(h.kv)), prefix, after, limit)
	return keys, more, nil
}

// SendMail records m; a repeated IdempotencyKey returns the first id.
func (h *Host) SendMail(_ context.Context, m sdk.Mail) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if id, ok := h.mailIDs[m.IdempotencyKey]; ok && m.IdempotencyKey != "" {
		return id, nil
	}
	id := fmt.Sprintf("<%d@sdktest>", len(h.mails)+1)
	h.mails = append(h.mails, Mail{m, id})
	h.mailIDs[m.IdempotencyKey] = id
	return id, nil
}

// Emit records an event; a repeat for the same run, item, type and key is
// dropped, as the host's deterministic ids make JetStream drop it.
func (h *Host) Emit(_ context.Context, runID, itemID string, ev sdk.EventData) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.emitted {
		if e.RunID == runID && e.ItemID == itemID && e.Type == ev.Type && e.Key == ev.Key {
			return e.EventID, nil
		}
	}
	id := fmt.Sprintf("event-%d", len(h.emitted)+1)
	h.emitted = append(h.emitted, Emitted{RunID: runID, ItemID: itemID, EventData: ev, EventID: id})
	return id, nil
}

// Schedule records a callback; the first registration of a key stands.
func (h *Host) Schedule(_ context.Context, key string, at time.Time, payload []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.ContainsFunc(h.schedules, func(s Schedule) bool { return s.Key == key }) {
		h.schedules = append(h.schedules, Schedule{Key: key, At: at, Payload: bytes.Clone(payload)})
	}
	return nil
}

// Log records a log line.
func (h *Host) Log(_ context.Context, level, msg string, attrs map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, LogEntry{level, msg, attrs})
}

// Documents returns the stored documents in the order they were put.
func (h *Host) Documents() []StoredDocument {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.docs)
}

// State returns a copy of the KV state.
func (h *Host) State() map[string][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string][]byte, len(h.kv))
	for k, e := range h.kv {
		out[k] = bytes.Clone(e.value)
	}
	return out
}

// Mails returns the mail sent, in order, once per idempotency key.
func (h *Host) Mails() []Mail {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.mails)
}

// MailsTo returns the mail sent to addr (bare, or as "Name <addr>").
func (h *Host) MailsTo(addr string) []Mail {
	var out []Mail
	for _, m := range h.Mails() {
		if slices.ContainsFunc(m.To, func(to string) bool { return to == addr || strings.Contains(to, "<"+addr+">") }) {
			out = append(out, m)
		}
	}
	return out
}

// Emitted returns the events published with Emit, in order; with types,
// only those of these types.
func (h *Host) Emitted(types ...string) []Emitted {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Emitted
	for _, e := range h.emitted {
		if len(types) == 0 || slices.Contains(types, e.Type) {
			out = append(out, e)
		}
	}
	return out
}

// Schedules returns the registered callbacks in registration order.
func (h *Host) Schedules() []Schedule {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.schedules)
}

// Logs returns the Host.Log lines in order.
func (h *Host) Logs() []LogEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.logs)
}
