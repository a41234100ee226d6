package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/paperflow/paperflow/host/events"
	sdkevents "github.com/paperflow/paperflow/plugins/sdk/events"
)

// parallelSigners invites both recipients at once, so both can open their
// page for the same item.
const parallelSigners = `{
  "documents": ["contract"],
  "recipients": [
    {"email": "ada@example.com", "name": "Ada Lovelace", "order": 1},
    {"email": "hr@example.com", "name": "HR Department", "order": 1}
  ],
  "subject": "Your contract", "message": "Please sign."
}`

// TestEveryRecipientsViewIsAnEvent: two recipients of one item viewing
// their pages give two SIGNATURE_REQUEST_VIEWED events with different ids
// (the recipient is the event's key), where one id for both would have had
// the second dropped as a duplicate of the first.
func TestEveryRecipientsViewIsAnEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, parallelSigners)
	res := f.process(f.item("1", map[string]any{}, parallelSigners))
	links := f.links(res[0])
	if len(links) != 2 {
		t.Fatalf("links: %v", links)
	}
	for i, l := range links {
		if code, body := f.get(l); code != http.StatusOK {
			t.Fatalf("page %d: %d\n%s", i, code, body)
		}
	}
	f.get(links[0]) // a second view of the same page is no new event

	views := f.host.events(sdkevents.SignatureRequestViewed)
	if len(views) != 2 {
		t.Fatalf("%d SIGNATURE_REQUEST_VIEWED events, want 2: %+v", len(views), views)
	}
	ids := map[string]string{}
	for _, v := range views {
		validate(t, v.EventData)
		var data sdkevents.SignatureRequestViewedData
		if err := json.Unmarshal(v.Data, &data); err != nil {
			t.Fatal(err)
		}
		if v.Key != data.Recipient.Email {
			t.Errorf("view of %s has key %q, want the recipient", data.Recipient.Email, v.Key)
		}
		id := events.KeyedID("hiring", v.RunID, v.ItemID, "sign", events.SignatureRequestViewed, v.Key)
		if other, dup := ids[id]; dup {
			t.Errorf("the views of %s and %s share the event id %s", other, data.Recipient.Email, id)
		}
		ids[id] = data.Recipient.Email
	}
}
