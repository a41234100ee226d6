package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/paperflow/paperflow/host/documents/origin"
	"github.com/paperflow/paperflow/schemas"
)

// schemaBaseURL is the $id prefix of every event schema; a schema's $id is
// this followed by its file name, which is how the type schemas find
// envelope.json through a relative $ref.
const schemaBaseURL = "https://paperflow.dev/schemas/events/"

const (
	schemaDir    = "events"
	envelopeFile = "envelope.json"
)

// ErrInvalid is matched (errors.Is) by every error that says an event does not
// match its schema, so callers can tell bad input — report it, do not retry —
// from a failure to publish, which is worth retrying.
var ErrInvalid = errors.New("invalid event")

// InvalidError says why an event does not match its schema: one Problem per
// failing field, sorted by field. It matches ErrInvalid.
type InvalidError struct {
	// EventID and EventType are as found in the event (empty when missing or
	// unreadable), so the message points at the event a person is looking for.
	EventID   string
	EventType string
	// Schema is the schema file the event was checked against, relative to
	// the schemas folder (e.g. events/documents_created.json).
	Schema string
	// Problems lists what is wrong, one entry per failing field.
	Problems []Problem
}

// Problem is one reason an event is invalid.
type Problem struct {
	// Field is the JSON pointer (RFC 6901) of the offending value; "" is the
	// whole event.
	Field string
	// Message says what is wrong with it, in jsonschema's words.
	Message string
}

// String renders the problem as "data/documents/0/url: <message>", the pointer
// without its leading slash because that is how people read a path.
func (p Problem) String() string {
	field := strings.TrimPrefix(p.Field, "/")
	if field == "" {
		field = "(root)"
	}
	return field + ": " + p.Message
}

// Error puts the event, the schema and every problem in the message: one line
// when there is one problem, otherwise one indented line per problem.
func (e *InvalidError) Error() string {
	var b strings.Builder
	b.WriteString("invalid event")
	if e.EventType != "" {
		b.WriteString(" " + clip(e.EventType))
	}
	if e.EventID != "" {
		b.WriteString(" " + clip(e.EventID))
	}
	if e.Schema != "" {
		b.WriteString(" (schemas/" + e.Schema + ")")
	}
	if len(e.Problems) == 1 {
		b.WriteString(": " + e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, ": %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// clip keeps a value taken from a broken event short enough for a log line.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "") + "…"
}

// Is reports whether target is ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Validator checks events against the schemas embedded from schemas/events.
// The schemas are compiled once by NewValidator; Validate only reads them, so
// one Validator is shared by every goroutine of the host.
//
// An event is decoded once (decodeJSON) and checked by the fast form of its
// schema (fastSchema), which accepts a valid event without building errors;
// jsonschema then decides about any event the fast check does not accept,
// so what is rejected, and how the error reads, is jsonschema's alone.
type Validator struct {
	envelope compiled
	byType   map[Type]compiled
	// keys are the property names and constants of the schemas, which
	// decoding an event reuses instead of allocating them again.
	keys map[string]string
}

// compiled is one event schema: jsonschema's form, which decides and words
// every rejection, and the fast form (nil when the schema uses a keyword it
// does not handle), which accepts valid events cheaply.
type compiled struct {
	full *jsonschema.Schema
	fast *fastSchema
	// file is the schema's file name in the schemas folder.
	file string
}

func compile(c *jsonschema.Compiler, file string) (compiled, error) {
	s, err := c.Compile(schemaBaseURL + file)
	if err != nil {
		return compiled{}, err
	}
	// A schema the fast check cannot handle is still enforced, by
	// jsonschema alone; TestEverySchemaHasAFastCheck says which keyword.
	fast, _ := newFastSchema(s)
	return compiled{full: s, fast: fast, file: file}, nil
}

// validate checks doc: the fast check accepts a valid event, and jsonschema
// decides about any other.
func (c compiled) validate(doc any) error {
	if c.fast != nil && c.fast.check(doc, 0) == valid {
		return nil
	}
	return c.full.Validate(doc)
}

// NewValidator compiles the embedded event schemas. It fails if a schema is
// missing, is not valid JSON Schema 2020-12, or has an $id that does not match
// its file name, so a broken schema stops the host at start-up rather than
// rejecting events at run time.
func NewValidator() (*Validator, error) {
	return newValidator(schemas.FS, schemaDir)
}

func newValidator(fsys fs.FS, dir string) (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	// No c.Formats: fastSchema asserts the formats of jsonschema.Formats,
	// as this compiler then does.
	// Every $ref must resolve to an embedded file: never fetch a schema at run time.
	c.LoadURL = func(url string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("schema %s is not among the embedded event schemas", url)
	}
	files, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, file := range files {
		if err := addSchema(c, fsys, file); err != nil {
			return nil, err
		}
	}
	v := &Validator{byType: make(map[Type]compiled, len(Types))}
	if v.envelope, err = compile(c, envelopeFile); err != nil {
		return nil, fmt.Errorf("compile schemas/%s/%s: %w", dir, envelopeFile, err)
	}
	for _, t := range Types {
		s, err := compile(c, t.schemaFile())
		if err != nil {
			return nil, fmt.Errorf("compile schema of %s (schemas/%s/%s): %w", t, dir, t.schemaFile(), err)
		}
		v.byType[t] = s
	}
	v.keys = map[string]string{}
	seen := map[*fastSchema]bool{}
	v.envelope.fast.collectStrings(v.keys, seen)
	for _, c := range v.byType {
		c.fast.collectStrings(v.keys, seen)
	}
	return v, nil
}

// addSchema registers file under its $id after checking that the $id is
// schemaBaseURL + the file name, the rule relative $refs depend on.
func addSchema(c *jsonschema.Compiler, fsys fs.FS, file string) error {
	b, err := fs.ReadFile(fsys, file)
	if err != nil {
		return err
	}
	var head struct {
		ID string `json:"$id"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return fmt.Errorf("schemas/%s: %w", file, err)
	}
	if want := schemaBaseURL + path.Base(file); head.ID != want {
		return fmt.Errorf("schemas/%s: $id is %q, want %q", file, head.ID, want)
	}
	if err := c.AddResource(head.ID, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("schemas/%s: %w", file, err)
	}
	return nil
}

// Validate checks raw against the schema of its eventType (the envelope
// schema alone when the type is missing or unknown, which then reports the
// type). The error is an *InvalidError, matching ErrInvalid.
func (v *Validator) Validate(raw []byte) error {
	_, err := v.check(raw)
	return err
}

// Checked is an event that passed validation, ready to publish without
// being validated again.
type Checked struct {
	h   header
	raw []byte
}

// ID is the checked event's id.
func (c Checked) ID() string { return c.h.id }

// Check validates raw like Validate and keeps what publishing needs, so a
// caller that must validate a group of events before publishing any of
// them (all of one item's, or none) pays for validation once.
func (v *Validator) Check(raw []byte) (Checked, error) {
	h, err := v.check(raw)
	if err != nil {
		return Checked{}, err
	}
	return Checked{h: h, raw: raw}, nil
}

// header is what publishing needs from a valid event, read during validation
// so the event is decoded once.
type header struct {
	id       string
	typ      Type
	workflow string
	// made are the ids of the documents the event says its block made
	// (makesDocuments), and origin where: the publisher records it.
	made   []string
	origin origin.Origin
}

// makesDocuments are the event types whose data.documents the emitting
// block made (the template's PDFs, the signature block's sealed ones);
// other types name documents made before.
var makesDocuments = map[Type]bool{DocumentsCreated: true, SignaturesCompleted: true}

// readMade fills h.made and h.origin from a valid event of a type that
// makes documents.
func (h *header) readMade(obj map[string]any) {
	if !makesDocuments[h.typ] {
		return
	}
	meta, _ := obj["metadata"].(map[string]any)
	data, _ := obj["data"].(map[string]any)
	docs, _ := data["documents"].([]any)
	for _, d := range docs {
		if doc, ok := d.(map[string]any); ok {
			if id, _ := doc["id"].(string); id != "" {
				h.made = append(h.made, id)
			}
		}
	}
	h.origin.Workflow = h.workflow
	h.origin.RunID, _ = meta["run_id"].(string)
	h.origin.ItemID, _ = meta["item_id"].(string)
	h.origin.BlockID, _ = meta["block_id"].(string)
}

func (v *Validator) check(raw []byte) (header, error) {
	doc, ok := decodeJSON(raw, v.keys)
	if !ok {
		// Not JSON, or JSON decodeJSON leaves to encoding/json: it decides,
		// and says what is wrong.
		if err := json.Unmarshal(raw, &doc); err != nil {
			return header{}, &InvalidError{Problems: []Problem{{Message: "not JSON: " + err.Error()}}}
		}
	}
	var h header
	obj, _ := doc.(map[string]any)
	h.id, _ = obj["eventId"].(string)
	typ, _ := obj["eventType"].(string)
	h.typ = Type(typ)
	if meta, ok := obj["metadata"].(map[string]any); ok {
		h.workflow, _ = meta["workflow"].(string)
	}
	schema, ok := v.byType[h.typ]
	if !ok {
		schema = v.envelope
	}
	if err := schema.validate(doc); err != nil {
		inv := &InvalidError{EventID: h.id, EventType: typ, Schema: path.Join(schemaDir, schema.file)}
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			inv.Problems = problems(ve)
		} else {
			inv.Problems = []Problem{{Message: err.Error()}}
		}
		return h, inv
	}
	h.readMade(obj)
	return h, nil
}

// problems flattens jsonschema's tree of errors, whose inner nodes only say
// "doesn't validate with ..." or "allOf failed", into its leaves: the fields
// that are wrong and why. Sorted and without duplicates, so the same event
// always gets the same message.
func problems(ve *jsonschema.ValidationError) []Problem {
	var out []Problem
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		switch {
		case strings.HasSuffix(e.KeywordLocation, "/minContains"):
			// Its causes are every item that does not match, which read as
			// if each item were wrong; say what is missing instead.
			msg := "no item matches its 'contains' schema (" + e.Message + ")"
			if len(e.Causes) > 0 {
				msg += ", e.g. " + firstLeaf(e.Causes[0]).String()
			}
			out = append(out, Problem{Field: e.InstanceLocation, Message: msg})
		case len(e.Causes) == 0:
			out = append(out, Problem{Field: e.InstanceLocation, Message: readable(e.Message)})
		default:
			for _, c := range e.Causes {
				walk(c)
			}
		}
	}
	walk(ve)
	slices.SortFunc(out, func(a, b Problem) int {
		if c := strings.Compare(a.Field, b.Field); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return slices.Compact(out)
}

func firstLeaf(e *jsonschema.ValidationError) Problem {
	for len(e.Causes) > 0 {
		e = e.Causes[0]
	}
	return Problem{Field: e.InstanceLocation, Message: readable(e.Message)}
}

// readable undoes the Go-string escaping jsonschema applies to a pattern, so
// the message shows the regular expression itself (\s, not \\s).
func readable(msg string) string {
	if strings.HasPrefix(msg, "does not match pattern ") {
		return strings.ReplaceAll(msg, `\\`, `\`)
	}
	return msg
}

var _ error = (*InvalidError)(nil)
