package websend

import (
	"slices"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk/events"
)

// TestDefaultEventsAreTheMainTypes: a configuration that names no event
// types sends the main ones the schemas define, not a list of its own.
func TestDefaultEventsAreTheMainTypes(t *testing.T) {
	if !slices.Equal(DefaultEvents, events.MainTypes) || len(DefaultEvents) != 4 {
		t.Errorf("DefaultEvents %v, want the four main types %v", DefaultEvents, events.MainTypes)
	}
}
