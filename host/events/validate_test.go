package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

var (
	sharedValidator     *Validator
	sharedValidatorErr  error
	sharedValidatorOnce sync.Once
)

// testValidator returns one Validator for all tests, which also exercises
// concurrent use when tests run in parallel.
func testValidator(tb testing.TB) *Validator {
	tb.Helper()
	sharedValidatorOnce.Do(func() { sharedValidator, sharedValidatorErr = NewValidator() })
	if sharedValidatorErr != nil {
		tb.Fatal(sharedValidatorErr)
	}
	return sharedValidator
}

var exampleTime = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// exampleData is a valid data object for each type, written as a block would.
func exampleData(t Type) map[string]any {
	doc := map[string]any{
		"id": "doc_01", "url": "https://paperflow.example/documents/doc_01?sig=abc", "name": "Contract - Ada.pdf", "mimetype": "application/pdf",
	}
	recipient := func(status string, order int) map[string]any {
		return map[string]any{
			"email": fmt.Sprintf("signer%d@example.com", order), "name": "Signer " + strconv.Itoa(order), "order": order,
			"status": status, "signature_url": fmt.Sprintf("https://paperflow.example/blocks/hiring/sign/s/%d", order),
		}
	}
	switch t {
	case DocumentsCreated:
		return map[string]any{"documents": []any{doc}}
	case EmailsCreated:
		return map[string]any{"emails": []any{map[string]any{
			"to": "ada@example.com, hr@example.com", "cc": []any{"boss@example.com"}, "subject": "Your contract", "message_id": "<20260314.1@paperflow.local>",
		}}}
	case SignaturesRequested:
		return map[string]any{"documents": []any{doc}, "recipients": []any{recipient("PENDING", 1), recipient("PENDING", 2)}}
	case SignaturesCompleted:
		signed := recipient("COMPLETED", 2)
		signed["signed_at"] = "2026-03-15T10:00:00Z"
		return map[string]any{"documents": []any{doc}, "recipients": []any{recipient("COMPLETED", 1), signed}}
	case SignaturesDeclined:
		signed := recipient("COMPLETED", 1)
		signed["signed_at"] = "2026-03-15T10:00:00Z"
		return map[string]any{"documents": []any{doc}, "recipients": []any{signed, recipient("DECLINED", 2), recipient("PENDING", 3)}, "reason": "Wrong salary"}
	case SignatureRequestViewed:
		return map[string]any{"documents": []any{doc}, "recipient": map[string]any{"email": "ada@example.com", "name": "Ada", "order": 1}, "viewed_at": "2026-03-15T09:00:00Z", "ip": "192.0.2.1", "user_agent": "Mozilla/5.0"}
	case SignaturesExpired:
		return map[string]any{"documents": []any{doc}, "recipients": []any{recipient("PENDING", 1)}, "expired_at": "2026-04-14T09:26:53Z"}
	}
	return schemaExample(t)
}

// quotedTypes lists Types as the validator's enum error does.
func quotedTypes() string {
	q := make([]string, len(Types))
	for i, t := range Types {
		q[i] = strconv.Quote(string(t))
	}
	return strings.Join(q, ", ")
}

// schemaExample is the first of the "examples" a type's schema gives for its
// data: a type added by its schema file alone brings its example with it.
func schemaExample(t Type) map[string]any {
	b, err := os.ReadFile(filepath.Join("..", "..", "schemas", "events", t.schemaFile()))
	if err != nil {
		panic(err)
	}
	var s struct {
		Properties struct {
			Data struct {
				Examples []map[string]any `json:"examples"`
			} `json:"data"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &s); err != nil || len(s.Properties.Data.Examples) == 0 {
		panic(fmt.Sprintf("no example for %s: give its schema's data an \"examples\" list (%v)", t, err))
	}
	return s.Properties.Data.Examples[0]
}

// exampleEvent is a valid event of type t as a generic JSON value, ready to be
// broken by a test case.
func exampleEvent(tb testing.TB, t Type) map[string]any {
	tb.Helper()
	meta := Metadata{Workflow: "hiring", RunID: "run_1", ItemID: "row_2", BlockID: "contract", CreatedAt: exampleTime}
	_, raw, err := New(meta, t, exampleData(t))
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// at returns the object or array holding the last token of the slash-separated
// path, and that token.
func at(tb testing.TB, v any, p string) (any, string) {
	tb.Helper()
	tokens := strings.Split(p, "/")
	for _, tok := range tokens[:len(tokens)-1] {
		switch c := v.(type) {
		case map[string]any:
			v = c[tok]
		case []any:
			i, _ := strconv.Atoi(tok)
			v = c[i]
		default:
			tb.Fatalf("path %s: %q is not in an object or array", p, tok)
		}
	}
	return v, tokens[len(tokens)-1]
}

func set(p string, value any) func(testing.TB, map[string]any) {
	return func(tb testing.TB, m map[string]any) {
		parent, last := at(tb, m, p)
		switch c := parent.(type) {
		case map[string]any:
			c[last] = value
		case []any:
			i, _ := strconv.Atoi(last)
			c[i] = value
		}
	}
}

func del(p string) func(testing.TB, map[string]any) {
	return func(tb testing.TB, m map[string]any) {
		parent, last := at(tb, m, p)
		delete(parent.(map[string]any), last)
	}
}

func rename(p, to string) func(testing.TB, map[string]any) {
	return func(tb testing.TB, m map[string]any) {
		parent, last := at(tb, m, p)
		obj := parent.(map[string]any)
		obj[to] = obj[last]
		delete(obj, last)
	}
}

func TestValidatorAcceptsExamples(t *testing.T) {
	t.Parallel()
	v := testValidator(t)
	disk := diskSchemas(t)
	for _, typ := range Types {
		raw, _ := json.Marshal(exampleEvent(t, typ))
		if err := v.Validate(raw); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
		if err := disk.validate(raw); err != nil {
			t.Errorf("%s against the files on disk: %v", typ, err)
		}
	}
}

func TestValidatorRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		typ  Type
		edit func(testing.TB, map[string]any)
		want string // a line of the error: field and what is wrong
	}{
		// The envelope, through DOCUMENTS_CREATED.
		{"missing eventId", DocumentsCreated, del("eventId"), "(root): missing properties: 'eventId'"},
		{"id not hex", DocumentsCreated, set("eventId", strings.Repeat("G", 48)), "eventId: does not match pattern '^[0-9a-f]{48}$'"},
		{"id too short", DocumentsCreated, set("eventId", strings.Repeat("a", 47)), "eventId: does not match pattern"},
		{"unknown type", DocumentsCreated, set("eventType", "DOCUMENT_CREATED"), `eventType: value must be one of "DOCUMENTS_CREATED"`},
		{"type not a string", DocumentsCreated, set("eventType", 3), "eventType: expected string, but got number"},
		{"snake_case event_id", DocumentsCreated, rename("eventId", "event_id"), "(root): additionalProperties 'event_id' not allowed"},
		{"extra envelope property", DocumentsCreated, set("source", "csv"), "(root): additionalProperties 'source' not allowed"},
		{"data not an object", DocumentsCreated, set("data", []any{}), "data: expected object, but got array"},
		{"missing metadata", DocumentsCreated, del("metadata"), "(root): missing properties: 'metadata'"},
		{"missing run_id", DocumentsCreated, del("metadata/run_id"), "metadata: missing properties: 'run_id'"},
		{"camelCase runId", DocumentsCreated, rename("metadata/run_id", "runId"), "metadata: additionalProperties 'runId' not allowed"},
		{"workflow with a dot", DocumentsCreated, set("metadata/workflow", "hr.hiring"), "metadata/workflow: does not match pattern"},
		{"created_at not a time", DocumentsCreated, set("metadata/created_at", "yesterday"), "metadata/created_at: 'yesterday' is not valid 'date-time'"},
		{"empty block_id", DocumentsCreated, set("metadata/block_id", ""), "metadata/block_id: length must be >= 1, but got 0"},

		// DOCUMENTS_CREATED
		{"no documents", DocumentsCreated, set("data/documents", []any{}), "data/documents: minimum 1 items required, but found 0 items"},
		{"documents missing", DocumentsCreated, del("data/documents"), "data: missing properties: 'documents'"},
		{"bad url", DocumentsCreated, set("data/documents/0/url", "not a url"), "data/documents/0/url: 'not a url' is not valid 'uri'"},
		{"missing mimetype", DocumentsCreated, del("data/documents/0/mimetype"), "data/documents/0: missing properties: 'mimetype'"},
		{"bad mimetype", DocumentsCreated, set("data/documents/0/mimetype", "pdf"), "data/documents/0/mimetype: does not match pattern"},
		{"extra document property", DocumentsCreated, set("data/documents/0/size", 10), "data/documents/0: additionalProperties 'size' not allowed"},
		{"extra data property", DocumentsCreated, set("data/emails", []any{}), "data: additionalProperties 'emails' not allowed"},

		// EMAILS_CREATED
		{"no recipient", EmailsCreated, set("data/emails/0/to", ""), "data/emails/0/to: does not match pattern"},
		{"to is a list", EmailsCreated, set("data/emails/0/to", []any{"ada@example.com"}), "data/emails/0/to: expected string, but got array"},
		{"bad address", EmailsCreated, set("data/emails/0/to", "ada@example.com, hr at example"), "data/emails/0/to: does not match pattern"},
		{"joined without a space", EmailsCreated, set("data/emails/0/to", "ada@example.com,hr@example.com"), "data/emails/0/to: does not match pattern"},
		{"bad cc address", EmailsCreated, set("data/emails/0/cc/0", "hr at example"), "data/emails/0/cc/0: 'hr at example' is not valid 'email'"},
		{"empty bcc", EmailsCreated, set("data/emails/0/bcc", []any{}), "data/emails/0/bcc: minimum 1 items required, but found 0 items"},
		{"message_id without brackets", EmailsCreated, set("data/emails/0/message_id", "abc@host"), "data/emails/0/message_id: does not match pattern"},
		{"camelCase messageId", EmailsCreated, rename("data/emails/0/message_id", "messageId"), "data/emails/0: additionalProperties 'messageId' not allowed"},
		{"missing subject", EmailsCreated, del("data/emails/0/subject"), "data/emails/0: missing properties: 'subject'"},

		// SIGNATURES_REQUESTED
		{"requested but completed", SignaturesRequested, set("data/recipients/1/status", "COMPLETED"), `data/recipients/1/status: value must be "PENDING"`},
		{"unknown status", SignaturesRequested, set("data/recipients/0/status", "SENT"), "data/recipients/0/status: value must be one of"},
		{"order 0", SignaturesRequested, set("data/recipients/0/order", 0), "data/recipients/0/order: must be >= 1 but found 0"},
		{"order not integer", SignaturesRequested, set("data/recipients/0/order", 1.5), "data/recipients/0/order: expected integer, but got number"},
		{"camelCase signatureUrl", SignaturesRequested, rename("data/recipients/0/signature_url", "signatureUrl"), "data/recipients/0: additionalProperties 'signatureUrl' not allowed"},
		{"signed before signing", SignaturesRequested, set("data/recipients/0/signed_at", "2026-03-15T10:00:00Z"), "data/recipients/0/signed_at: not allowed"},
		{"bad signer email", SignaturesRequested, set("data/recipients/0/email", "ada"), "data/recipients/0/email: 'ada' is not valid 'email'"},
		{"no recipients", SignaturesRequested, del("data/recipients"), "data: missing properties: 'recipients'"},
		{"no documents to sign", SignaturesRequested, del("data/documents"), "data: missing properties: 'documents'"},

		// SIGNATURES_COMPLETED
		{"completed but one pending", SignaturesCompleted, set("data/recipients/0/status", "PENDING"), `data/recipients/0/status: value must be "COMPLETED"`},
		{"signed_at not a time", SignaturesCompleted, set("data/recipients/1/signed_at", "today"), "data/recipients/1/signed_at: 'today' is not valid 'date-time'"},
		{"completed without url", SignaturesCompleted, del("data/recipients/0/signature_url"), "data/recipients/0: missing properties: 'signature_url'"},

		// SIGNATURES_DECLINED
		{"declined without decliner", SignaturesDeclined, set("data/recipients/1/status", "PENDING"), "data/recipients: no item matches its 'contains' schema"},
		{"declined without reason", SignaturesDeclined, del("data/reason"), "data: missing properties: 'reason'"},
		{"status REJECTED", SignaturesDeclined, set("data/recipients/1/status", "REJECTED"), "data/recipients/1/status: value must be one of"},
		{"decliner with signed_at", SignaturesDeclined, set("data/recipients/1/signed_at", "2026-03-15T10:00:00Z"), "data/recipients/1/signed_at: not allowed"},
	}
	v := testValidator(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			event := exampleEvent(t, tt.typ)
			tt.edit(t, event)
			raw, err := json.Marshal(event)
			if err != nil {
				t.Fatal(err)
			}
			err = v.Validate(raw)
			if err == nil {
				t.Fatalf("accepted %s", raw)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			if !hasLine(err, tt.want) {
				t.Errorf("error does not name the field:\n got: %v\nwant a problem starting %q", err, tt.want)
			}
		})
	}
}

// hasLine reports whether one of err's problems starts with want.
func hasLine(err error, want string) bool {
	var inv *InvalidError
	if !errors.As(err, &inv) {
		return false
	}
	for _, p := range inv.Problems {
		if strings.HasPrefix(p.String(), want) {
			return true
		}
	}
	return false
}

func TestInvalidErrorMessage(t *testing.T) {
	t.Parallel()
	v := testValidator(t)
	one := exampleEvent(t, DocumentsCreated)
	set("data/documents/0/url", "not a url")(t, one)
	id := one["eventId"].(string)

	two := exampleEvent(t, DocumentsCreated)
	del("metadata/run_id")(t, two)
	set("data/documents/0/url", "not a url")(t, two)
	set("data/documents/0/mimetype", "pdf")(t, two)

	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"one problem, one line", mustJSON(t, one),
			"invalid event DOCUMENTS_CREATED " + id + " (schemas/events/documents_created.json): data/documents/0/url: 'not a url' is not valid 'uri'"},
		{"several problems, sorted, one per line", mustJSON(t, two),
			"invalid event DOCUMENTS_CREATED " + id + " (schemas/events/documents_created.json): 3 problems:\n" +
				"  data/documents/0/mimetype: does not match pattern '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\\s*;.*)?$'\n" +
				"  data/documents/0/url: 'not a url' is not valid 'uri'\n" +
				"  metadata: missing properties: 'run_id'"},
		{"unknown type checked against the envelope", `{"eventId":"` + id + `","eventType":"NOPE","data":{},"metadata":{}}`,
			"invalid event NOPE " + id + " (schemas/events/envelope.json): 2 problems:\n" +
				"  eventType: value must be one of " + quotedTypes() + "\n" +
				"  metadata: missing properties: 'workflow', 'run_id', 'item_id', 'block_id', 'created_at'"},
		{"not an object", `[1]`, "invalid event (schemas/events/envelope.json): (root): expected object, but got array"},
		{"not JSON", `{"eventId":`, "invalid event: (root): not JSON: unexpected end of JSON input"},
	}
	for _, tt := range tests {
		err := v.Validate([]byte(tt.raw))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got: %v\nwant: %s", tt.name, err, tt.want)
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v does not match ErrInvalid", tt.name, err)
		}
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestValidatorConcurrentUse(t *testing.T) {
	t.Parallel()
	v := testValidator(t)
	good, _ := json.Marshal(exampleEvent(t, SignaturesDeclined))
	badEvent := exampleEvent(t, SignaturesDeclined)
	set("data/recipients/0/email", "nope")(t, badEvent)
	bad, _ := json.Marshal(badEvent)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if err := v.Validate(good); err != nil {
					t.Error(err)
					return
				}
				if err := v.Validate(bad); !hasLine(err, "data/recipients/0/email:") {
					t.Errorf("got %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNewValidatorRefusesBrokenSchemas(t *testing.T) {
	t.Parallel()
	files := fstest.MapFS{}
	entries, err := schemasOnDisk()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range entries {
		files["events/"+name] = &fstest.MapFile{Data: b}
	}
	if _, err := newValidator(files, "events"); err != nil {
		t.Fatalf("the files on disk do not compile: %v", err)
	}

	tests := []struct {
		name    string
		breakIt func(fstest.MapFS)
		want    string
	}{
		{"missing type schema", func(m fstest.MapFS) { delete(m, "events/emails_created.json") }, "schemas/events/emails_created.json"},
		{"$id not the file name", func(m fstest.MapFS) {
			m["events/copy.json"] = &fstest.MapFile{Data: m["events/envelope.json"].Data}
		}, `schemas/events/copy.json: $id is "https://paperflow.dev/schemas/events/envelope.json"`},
		{"$ref to a schema that is not embedded", func(m fstest.MapFS) {
			m["events/documents_created.json"] = &fstest.MapFile{Data: []byte(strings.Replace(
				string(m["events/documents_created.json"].Data), `"$ref": "envelope.json"`, `"$ref": "common.json"`, 1))}
		}, "not among the embedded event schemas"},
		{"not a schema", func(m fstest.MapFS) {
			m["events/signatures_declined.json"] = &fstest.MapFile{Data: []byte(
				`{"$id":"https://paperflow.dev/schemas/events/signatures_declined.json","type":"thing"}`)}
		}, "signatures_declined.json"},
	}
	for _, tt := range tests {
		broken := fstest.MapFS{}
		for k, f := range files {
			broken[k] = &fstest.MapFile{Data: f.Data}
		}
		tt.breakIt(broken)
		_, err := newValidator(broken, "events")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// The README's example must stay a valid event.
func TestReadmeExampleIsValid(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "schemas", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(b, -1)
	if len(blocks) == 0 {
		t.Fatal("schemas/README.md has no ```json example")
	}
	disk := diskSchemas(t)
	for _, m := range blocks {
		if err := testValidator(t).Validate(m[1]); err != nil {
			t.Errorf("README example: %v\n%s", err, m[1])
		}
		if err := disk.validate(m[1]); err != nil {
			t.Errorf("README example against the files on disk: %v", err)
		}
	}
}

// diskSet is the event schemas compiled straight from schemas/events on disk
// with a compiler of its own, so tests can check the bytes subscribers get
// the way a subscriber would, without going through Validator.
type diskSet map[string]*jsonschema.Schema

func schemasOnDisk() (map[string][]byte, error) {
	dir := filepath.Join("..", "..", "schemas", "events")
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out[filepath.Base(name)] = b
	}
	return out, nil
}

func diskSchemas(tb testing.TB) diskSet {
	tb.Helper()
	files, err := schemasOnDisk()
	if err != nil {
		tb.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	for name, b := range files {
		if err := c.AddResource("https://paperflow.dev/schemas/events/"+name, strings.NewReader(string(b))); err != nil {
			tb.Fatal(err)
		}
	}
	set := diskSet{}
	for name := range files {
		s, err := c.Compile("https://paperflow.dev/schemas/events/" + name)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		set[name] = s
	}
	return set
}

func (d diskSet) validate(raw []byte) error {
	var doc struct {
		EventType string `json:"eventType"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	s, ok := d[strings.ToLower(doc.EventType)+".json"]
	if !ok {
		return fmt.Errorf("no schema file for eventType %q", doc.EventType)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	return s.Validate(v)
}

func BenchmarkValidate(b *testing.B) {
	v := testValidator(b)
	for _, typ := range []Type{DocumentsCreated, SignaturesDeclined} {
		raw, _ := json.Marshal(exampleEvent(b, typ))
		b.Run(string(typ), func(b *testing.B) {
			// Baseline: decoding alone, measured in the same run, so the
			// reported ratio says what validation adds on this machine.
			const rounds = 2000
			start := time.Now()
			for range rounds {
				var doc any
				_ = json.Unmarshal(raw, &doc)
			}
			decode := time.Since(start) / rounds
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := v.Validate(raw); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(decode), "x-decode")
		})
	}
}
