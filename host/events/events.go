// Package events is the host's side of the event contract: the envelope every
// event travels in, its deterministic id, the NATS subject it is published on,
// validation against the JSON Schemas in schemas/events, and publishing to
// JetStream.
//
// An event is validated before it is published and never after: subscribers
// and webhook receivers rely on every message on paperflow.events.> matching
// its schema, so an event the host cannot vouch for is refused at the door.
package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/paperflow/paperflow/host/internal/jsontext"
	"github.com/paperflow/paperflow/plugins/sdk/jsonvalue"
)

// Type names what happened. The values are the eventType strings of the
// published contract, so they are also the last token of the NATS subject.
// The constants, Types and MainTypes are generated from schemas/events
// (types_gen.go), as are the SDK's event package and the envelope's enum.
type Type string

//go:generate go run ./internal/gen -root ../..

// ParseType turns a user-written event type (a workflow file, a subscription,
// a command-line flag) into a Type. It is strict — the contract's spelling
// only — because a type that silently matches nothing would make a webhook
// that never fires; the error suggests the right spelling when only case or
// dashes differ.
func ParseType(s string) (Type, error) {
	for _, t := range Types {
		if s == string(t) {
			return t, nil
		}
	}
	normal := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
	for _, t := range Types {
		if normal == string(t) {
			return "", fmt.Errorf("unknown event type %q: did you mean %s?", s, t)
		}
	}
	return "", fmt.Errorf("unknown event type %q: want one of %s", s, typeList())
}

func typeList() string {
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// schemaFile is the file in schemas/events that describes events of type t.
func (t Type) schemaFile() string { return strings.ToLower(string(t)) + ".json" }

// Metadata says where an event comes from. Together with the Type it
// determines the event id, so the same block finishing the same item in the
// same run always yields the same id.
type Metadata struct {
	// Workflow is the workflow's name; it becomes a token of the NATS subject.
	Workflow string `json:"workflow"`
	// RunID identifies the run; a resumed run keeps its id.
	RunID string `json:"run_id"`
	// ItemID identifies the source item (a CSV row, a posted form) within the run.
	ItemID string `json:"item_id"`
	// BlockID is the id of the block that emitted the event, as in the workflow file.
	BlockID string `json:"block_id"`
	// CreatedAt is when the event was built. It is not part of the id, so a
	// retried event keeps its id even though its time differs.
	CreatedAt time.Time `json:"created_at"`
	// Key is the block's discriminator between events of one type for the
	// same item (sdk.EventData.Key, e.g. a recipient). It is part of the id
	// when set, and not published.
	Key string `json:"-"`
}

// Envelope is the outer shape shared by every event. Its keys are camelCase
// (eventId, eventType) as in the published documentation's examples; keys
// inside Data and Metadata are snake_case (see schemas/README.md for why).
type Envelope struct {
	// EventID is KeyedID(Metadata..., EventType, Metadata.Key): 48 lowercase hex characters.
	EventID string `json:"eventId"`
	// EventType selects the schema Data must match.
	EventType Type `json:"eventType"`
	// Data is the type-specific payload, kept raw so that the bytes a block
	// produced are the bytes that are validated and delivered.
	Data json.RawMessage `json:"data"`
	// Metadata says which workflow, run, item and block produced the event.
	Metadata Metadata `json:"metadata"`
}

// idDomain separates paperflow event ids from any other SHA-256 use and
// versions the derivation: changing how ids are computed would make a resumed
// run republish events, so a change needs a new domain and a migration note.
const idDomain = "paperflow.event.v1"

// ID returns the deterministic id of the event that block blockID emits for
// item itemID of run runID of workflow, so that a retried block or a resumed
// run produces the same id and JetStream (through Nats-Msg-Id) and subscribers
// drop the duplicate. It is the first 24 bytes of SHA-256, as lowercase hex,
// over a domain string and each part prefixed by its length; the length prefix
// keeps ids of different inputs different even if a part contains a 0 byte or
// any separator one might have chosen.
func ID(workflow, runID, itemID, blockID string, t Type) string {
	return hashID(idDomain, workflow, runID, itemID, blockID, string(t))
}

// KeyedID is ID with a block's discriminator key folded in, for a block that
// emits several events of one type for the same item (a view per recipient):
// without it they would share an id and all but the first be dropped. An
// empty key gives ID's id, so events that never had a key keep theirs.
func KeyedID(workflow, runID, itemID, blockID string, t Type, key string) string {
	if key == "" {
		return ID(workflow, runID, itemID, blockID, t)
	}
	return hashID(idDomain, workflow, runID, itemID, blockID, string(t), key)
}

func hashID(parts ...string) string {
	h := sha256.New()
	buf := make([]byte, 0, 128)
	for _, part := range parts {
		buf = binary.BigEndian.AppendUint64(buf[:0], uint64(len(part)))
		buf = append(buf, part...)
		h.Write(buf)
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:24])
}

// StreamName is the JetStream stream that stores every event; subscribers
// bind their consumers to it.
const StreamName = "PAPERFLOW_EVENTS"

// SubjectAll matches every event subject; it is the stream's subject filter
// and what a subscriber that wants everything listens on.
const SubjectAll = "paperflow.events.>"

// Subject is where events of type t from workflow are published:
// paperflow.events.<workflow>.<TYPE>. The workflow name is restricted by the
// schema to [a-z0-9_-] so it is always exactly one subject token, and a
// subscriber can filter by workflow, by type, or both with NATS wildcards.
func Subject(workflow string, t Type) string {
	return "paperflow.events." + workflow + "." + string(t)
}

// New builds the event of type t with its deterministic id and returns it
// together with the bytes to publish. data is marshalled as JSON (a
// json.RawMessage is taken as is). A zero meta.CreatedAt is set to now; the
// time is always written in UTC. New does not validate: Publish does, so that
// nothing reaches the stream unchecked however it was built.
func New(meta Metadata, t Type, data any) (Envelope, []byte, error) {
	if _, err := ParseType(string(t)); err != nil {
		return Envelope{}, nil, err
	}
	raw, err := marshalData(data)
	if err != nil {
		return Envelope{}, nil, fmt.Errorf("event %s from block %q: encode data: %w", t, meta.BlockID, err)
	}
	if meta.CreatedAt.IsZero() {
		meta.CreatedAt = time.Now()
	}
	meta.CreatedAt = meta.CreatedAt.UTC()
	env := Envelope{
		EventID:   KeyedID(meta.Workflow, meta.RunID, meta.ItemID, meta.BlockID, t, meta.Key),
		EventType: t,
		Data:      raw,
		Metadata:  meta,
	}
	b, err := env.marshal()
	if err != nil {
		return Envelope{}, nil, fmt.Errorf("event %s from block %q: encode envelope: %w", t, meta.BlockID, err)
	}
	return env, b, nil
}

// marshalData is jsonvalue.Marshal(data), with the usual case — a block's
// bytes as a json.RawMessage — compacted directly rather than through the
// encoder, which would compact a copy of them.
func marshalData(data any) (json.RawMessage, error) {
	if rm, ok := data.(json.RawMessage); ok && rm != nil {
		var buf bytes.Buffer
		buf.Grow(len(rm))
		if json.Compact(&buf, rm) == nil {
			return buf.Bytes(), nil
		}
		// Let the encoder say what is wrong, in its words.
	}
	return jsonvalue.Marshal(data)
}

// marshal writes e as jsonvalue.Marshal(e) does, byte for byte, without
// going through reflection: e.Data must be compact JSON, as marshalData
// makes it, and the rest is a few strings and a time. A time encoding/json
// refuses takes jsonvalue.Marshal, so the error stays the encoder's.
func (e Envelope) marshal() ([]byte, error) {
	created, err := e.Metadata.CreatedAt.MarshalJSON()
	if err != nil {
		return jsonvalue.Marshal(e)
	}
	m := e.Metadata
	b := make([]byte, 0, 128+len(e.EventID)+len(e.EventType)+len(e.Data)+len(m.Workflow)+len(m.RunID)+len(m.ItemID)+len(m.BlockID)+len(created))
	b = append(b, `{"eventId":`...)
	b = jsontext.AppendString(b, e.EventID)
	b = append(b, `,"eventType":`...)
	b = jsontext.AppendString(b, string(e.EventType))
	b = append(b, `,"data":`...)
	b = append(b, e.Data...)
	b = append(b, `,"metadata":{"workflow":`...)
	b = jsontext.AppendString(b, m.Workflow)
	b = append(b, `,"run_id":`...)
	b = jsontext.AppendString(b, m.RunID)
	b = append(b, `,"item_id":`...)
	b = jsontext.AppendString(b, m.ItemID)
	b = append(b, `,"block_id":`...)
	b = jsontext.AppendString(b, m.BlockID)
	b = append(b, `,"created_at":`...)
	b = append(b, created...)
	return append(b, "}}"...), nil
}
