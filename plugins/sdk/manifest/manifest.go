// Package manifest reads a block's manifest: the file beside the block's
// code that says what the block is, as data rather than Go. A tool, an
// editor or a reviewer reads it without building the block, and the config
// schema in it is a JSON object an editor checks as it is typed.
//
// The manifest is a JSON object, by convention block.json in the block's
// main package:
//
//	{
//	  "name": "derive",
//	  "kind": "step",
//	  "description": "derives fields for each item",
//	  "events": ["DOCUMENTS_CREATED"],
//	  "config_schema": {"type": "object", "properties": {...}}
//	}
//
// name is what workflows write in uses:; kind is source, step or sink;
// description is the line `paperflow plugins` shows; events (optional) are
// the event types a step emits or a sink takes, each one of events.Types;
// config_schema is the JSON Schema of the block's `with:`. Any other key is
// an error, so a misspelt one does not go unnoticed. The version is not in
// the manifest: it stays in Go, where releases set it.
//
// The block embeds the manifest and builds its Descriptor once:
//
//	//go:embed block.json
//	var blockJSON []byte
//
//	var descriptor = manifest.MustParse(blockJSON, version)
//
//	func (*Block) Describe() sdk.Descriptor { return descriptor }
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/events"
)

// file is a manifest as written.
type file struct {
	Name         string          `json:"name"`
	Kind         sdk.Kind        `json:"kind"`
	Description  string          `json:"description"`
	Events       []string        `json:"events"`
	ConfigSchema json.RawMessage `json:"config_schema"`
}

// Parse turns a block manifest and the block's version into the Descriptor
// its Describe returns. It checks what the host would otherwise find only
// when it loads the block: a known kind, event types the SDK knows, a
// config schema that is a JSON object. Errors name the manifest field.
func Parse(data []byte, version string) (sdk.Descriptor, error) {
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return sdk.Descriptor{}, fmt.Errorf("block manifest: %w", decodeError(data, err))
	}
	if dec.More() {
		return sdk.Descriptor{}, errors.New("block manifest: more than one JSON value")
	}
	if err := f.check(version); err != nil {
		if f.Name == "" {
			return sdk.Descriptor{}, fmt.Errorf("block manifest: %w", err)
		}
		return sdk.Descriptor{}, fmt.Errorf("block manifest of %s: %w", f.Name, err)
	}
	return sdk.Descriptor{
		Name: f.Name, Kind: f.Kind, Version: version, Description: f.Description,
		ConfigSchema: f.ConfigSchema, Events: f.Events,
	}, nil
}

// MustParse is Parse for a package-level variable: a block whose manifest
// is wrong panics as it starts, so its own tests catch the mistake.
func MustParse(data []byte, version string) sdk.Descriptor {
	d, err := Parse(data, version)
	if err != nil {
		panic(err)
	}
	return d
}

// check reports the first field of f that is not as the host needs it.
func (f file) check(version string) error {
	if f.Name == "" {
		return errors.New("name: empty: the name workflows write in uses:")
	}
	switch f.Kind {
	case sdk.KindSource, sdk.KindStep, sdk.KindSink:
	default:
		return fmt.Errorf("kind: %q: want source, step or sink", f.Kind)
	}
	seen := make(map[string]bool, len(f.Events))
	for i, t := range f.Events {
		if !events.Known(t) {
			return fmt.Errorf("events[%d]: %q is not an event type of the SDK (one of %v)", i, t, events.Types)
		}
		if seen[t] {
			return fmt.Errorf("events[%d]: %q is listed twice", i, t)
		}
		seen[t] = true
	}
	if len(f.ConfigSchema) == 0 || bytes.Equal(f.ConfigSchema, []byte("null")) {
		return errors.New("config_schema: missing: the JSON Schema of the block's with:")
	}
	if f.ConfigSchema[0] != '{' {
		return errors.New("config_schema: not a JSON object")
	}
	if version == "" {
		return errors.New("version: empty: pass the block's version")
	}
	return nil
}

// decodeError says where in data a decoding error is: the line and column
// of a syntax error, the field of a value of the wrong type.
func decodeError(data []byte, err error) error {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		before := data[:min(int(syntax.Offset), len(data))]
		line := bytes.Count(before, []byte("\n")) + 1
		col := len(before) - bytes.LastIndexByte(before, '\n') - 1 // Offset counts the bad byte
		return fmt.Errorf("line %d, column %d: %w", line, col, err)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("%s: %s where the manifest wants %s", typ.Field, typ.Value, typ.Type)
	}
	return err
}
