package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// schemaBaseURL is the $id prefix of every event schema; their relative
// $refs resolve against it.
const schemaBaseURL = "https://paperflow.dev/schemas/events/"

var (
	compileOnce sync.Once
	compiler    *jsonschema.Compiler
	compileErr  error
	schemaMu    sync.Mutex
	compiled    = map[string]*jsonschema.Schema{}
)

// eventSchema returns the compiled schema of an event type, or an error
// naming the type as unknown.
func eventSchema(eventType string) (*jsonschema.Schema, error) {
	compileOnce.Do(func() { compiler, compileErr = newCompiler() })
	if compileErr != nil {
		return nil, compileErr
	}
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if s, ok := compiled[eventType]; ok {
		return s, nil
	}
	file := strings.ToLower(eventType) + ".json"
	if eventType == "" || eventType != strings.ToUpper(eventType) || file == "envelope.json" {
		return nil, fmt.Errorf("unknown event type %q", eventType)
	}
	if _, err := fs.Stat(EventSchemas, "schemas/events/"+file); err != nil {
		return nil, fmt.Errorf("unknown event type %q: no schemas/events/%s", eventType, file)
	}
	s, err := compiler.Compile(schemaBaseURL + file)
	if err != nil {
		return nil, fmt.Errorf("compile schema of %s: %w", eventType, err)
	}
	compiled[eventType] = s
	return s, nil
}

func newCompiler() (*jsonschema.Compiler, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	c.LoadURL = func(url string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("schema %s is not among the embedded event schemas", url)
	}
	files, err := fs.Glob(EventSchemas, "schemas/events/*.json")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := fs.ReadFile(EventSchemas, f)
		if err != nil {
			return nil, err
		}
		name := f[strings.LastIndex(f, "/")+1:]
		if err := c.AddResource(schemaBaseURL+name, strings.NewReader(string(b))); err != nil {
			return nil, fmt.Errorf("event schema %s: %w", name, err)
		}
	}
	return c, nil
}

// ValidateEvent checks an event a block emits against its type's schema,
// wrapped in an envelope as the host wraps it before publishing; a block's
// unit tests can call it on each Result's events.
func ValidateEvent(ev sdk.EventData) error {
	s, err := eventSchema(ev.Type)
	if err != nil {
		return err
	}
	env := map[string]any{
		"eventId": strings.Repeat("0f", 24), "eventType": ev.Type, "data": json.RawMessage(ev.Data),
		"metadata": map[string]any{
			"workflow": "conformance", "run_id": "r", "item_id": "1", "block_id": "b",
			"created_at": time.Now().UTC().Format(time.RFC3339Nano),
		},
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("%s event: data is not JSON: %w", ev.Type, err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("%s event: %w", ev.Type, err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s event does not validate: %w", ev.Type, err)
	}
	return nil
}
