// Package events holds paperflow's event types and their payloads as Go
// types, so a block builds an event with the compiler's help instead of a
// string and a map:
//
//	ev, err := events.New(events.DocumentsCreatedData{Documents: events.Documents(docs)})
//
// The constants, Types, MainTypes and the *Data types are generated from the
// JSON Schemas in the repository's schemas/events (events_gen.go), which the
// host validates every event against before publishing it; the payload types
// follow their shapes, so a field the schema requires is a field here, and
// an optional one is left out of the JSON when empty.
package events

import (
	"fmt"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// Payload is the data of one event type; every generated *Data type is one.
type Payload interface {
	// EventType is the type whose schema the payload follows.
	EventType() string
}

// New encodes p as the data of an event of p's type.
func New(p Payload) (sdk.EventData, error) {
	ev, err := sdk.NewEvent(p.EventType(), p)
	if err != nil {
		return sdk.EventData{}, fmt.Errorf("events: %w", err)
	}
	return ev, nil
}

// Documents lists stored documents as events show them.
func Documents(docs []sdk.Document) []Document {
	out := make([]Document, len(docs))
	for i, d := range docs {
		out[i] = Document{ID: d.ID, URL: d.URL, Name: d.Name, Mimetype: d.Mimetype}
	}
	return out
}

// Known says whether t is one of Types.
func Known(t string) bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}
