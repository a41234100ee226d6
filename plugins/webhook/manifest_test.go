package main

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk/events"
)

// TestManifestListsEveryEventType: a webhook takes every event type, and
// the events: and bodies: enums of its schema are the types the schemas
// define. block.json spells them out; this keeps them events.Types.
func TestManifestListsEveryEventType(t *testing.T) {
	d := (&Block{}).Describe()
	var s struct {
		Properties struct {
			Events struct {
				Items struct{ Enum []string } `json:"items"`
			} `json:"events"`
			Bodies struct {
				PropertyNames struct{ Enum []string } `json:"propertyNames"`
			} `json:"bodies"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(d.ConfigSchema, &s); err != nil {
		t.Fatalf("config schema: %v", err)
	}
	lists := []struct {
		where string
		types []string
	}{
		{"events", d.Events},
		{"config_schema.properties.events.items.enum", s.Properties.Events.Items.Enum},
		{"config_schema.properties.bodies.propertyNames.enum", s.Properties.Bodies.PropertyNames.Enum},
	}
	for _, l := range lists {
		if !slices.Equal(l.types, events.Types) {
			t.Errorf("block.json %s = %v, want events.Types %v (an event type is added to all three lists)", l.where, l.types, events.Types)
		}
	}
}
