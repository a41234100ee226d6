package websend

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk/events"
)

// TestSchemaEnumsAreTheEventTypes: the events: and bodies: enums of the
// block's schema are the types the schemas define, not a list of their own.
func TestSchemaEnumsAreTheEventTypes(t *testing.T) {
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
	if err := json.Unmarshal(ConfigSchema, &s); err != nil {
		t.Fatalf("ConfigSchema: %v", err)
	}
	if !slices.Equal(s.Properties.Events.Items.Enum, events.Types) || !slices.Equal(s.Properties.Bodies.PropertyNames.Enum, events.Types) {
		t.Errorf("enums %v and %v, want %v", s.Properties.Events.Items.Enum, s.Properties.Bodies.PropertyNames.Enum, events.Types)
	}
	if !slices.Equal(DefaultEvents, events.MainTypes) || len(DefaultEvents) != 4 {
		t.Errorf("DefaultEvents %v, want the four main types %v", DefaultEvents, events.MainTypes)
	}
}
