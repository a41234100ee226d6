package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/paperflow/paperflow/plugins/sdk/events"
)

// TestManifestListsEveryEventType: a webhook takes every event type, and
// the events: and bodies: options of its schema refer to one enum of them.
// go generate ./host/events writes both lists of block.json from
// schemas/events; this keeps them events.Types.
func TestManifestListsEveryEventType(t *testing.T) {
	d := (&Block{}).Describe()
	var s struct {
		Defs struct {
			EventType struct{ Enum []string } `json:"eventType"`
		} `json:"$defs"`
		Properties struct {
			Events struct {
				Items struct {
					Ref string `json:"$ref"`
				} `json:"items"`
			} `json:"events"`
			Bodies struct {
				PropertyNames struct {
					Ref string `json:"$ref"`
				} `json:"propertyNames"`
			} `json:"bodies"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(d.ConfigSchema, &s); err != nil {
		t.Fatalf("config schema: %v", err)
	}
	for _, l := range []struct {
		where string
		types []string
	}{
		{"events", d.Events},
		{"config_schema.$defs.eventType.enum", s.Defs.EventType.Enum},
	} {
		if !slices.Equal(l.types, events.Types) {
			t.Errorf("block.json %s = %v, want events.Types %v: run go generate ./host/events", l.where, l.types, events.Types)
		}
	}
	for where, ref := range map[string]string{
		"config_schema.properties.events.items":         s.Properties.Events.Items.Ref,
		"config_schema.properties.bodies.propertyNames": s.Properties.Bodies.PropertyNames.Ref,
	} {
		if ref != "#/$defs/eventType" {
			t.Errorf("block.json %s refers to %q, want #/$defs/eventType", where, ref)
		}
	}
}

// TestSchemaRefusesUnknownEventTypes: the events: and bodies: options reach
// the eventType enum through their $ref.
func TestSchemaRefusesUnknownEventTypes(t *testing.T) {
	c := jsonschema.NewCompiler()
	if err := c.AddResource("block.json", bytes.NewReader((&Block{}).Describe().ConfigSchema)); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("block.json")
	if err != nil {
		t.Fatalf("compile the config schema: %v", err)
	}
	for with, ok := range map[string]bool{
		`{"url": "http://x", "events": ["EMAILS_CREATED"]}`:          true,
		`{"url": "http://x", "events": ["NOPE"]}`:                    false,
		`{"url": "http://x", "bodies": {"DOCUMENTS_CREATED": "{}"}}`: true,
		`{"url": "http://x", "bodies": {"NOPE": "{}"}}`:              false,
	} {
		var v any
		if err := json.NewDecoder(strings.NewReader(with)).Decode(&v); err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(v); (err == nil) != ok {
			t.Errorf("with: %s: valid = %v, want %v (%v)", with, err == nil, ok, err)
		}
	}
}
