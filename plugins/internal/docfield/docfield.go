// Package docfield reads the documents a step gets from a field holding
// uploaded files: a form's file field, or a document the items API stored,
// renders in a with: entry as {"id": ..., "name": ...} or a list of those.
// The email block attaches such documents and the signature block signs
// them; both also take the id of an earlier block in the same place.
package docfield

import (
	"encoding/json"
	"fmt"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// Is reports whether a with: entry, as rendered for an item, is a field's
// documents rather than the id of an earlier block.
func Is(entry string) bool {
	return entry != "" && (entry[0] == '{' || entry[0] == '[')
}

// Parse reads the documents of an entry for which Is holds, each with an
// id. what is the kind of file the block wants ("file", "PDF"), for the
// hint the errors end with.
func Parse(entry, what string) ([]sdk.Document, error) {
	type doc struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Mimetype string `json:"mimetype"`
		URL      string `json:"url"`
	}
	var list []doc
	if entry[0] == '{' {
		var d doc
		if err := json.Unmarshal([]byte(entry), &d); err != nil {
			return nil, fmt.Errorf("%.80q is not a document: name a field that holds an uploaded %s", entry, what)
		}
		list = []doc{d}
	} else if err := json.Unmarshal([]byte(entry), &list); err != nil {
		return nil, fmt.Errorf("%.80q is not a list of documents: name a field that holds uploaded %ss", entry, what)
	}
	out := make([]sdk.Document, len(list))
	for i, d := range list {
		if d.ID == "" {
			return nil, fmt.Errorf("%.80q has no document id: name a field that holds an uploaded %s", entry, what)
		}
		out[i] = sdk.Document{ID: d.ID, Name: d.Name, Mimetype: d.Mimetype, URL: d.URL}
	}
	return out, nil
}
