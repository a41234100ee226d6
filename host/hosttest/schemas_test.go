package hosttest

import (
	"bytes"
	"io/fs"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk/conformance"
	"github.com/paperflow/paperflow/schemas"
)

// TestSDKEventSchemasAreCurrent: the SDK module validates events against
// its own copy of schemas/events; it must be the same files. Refresh it
// with `go generate ./conformance` in plugins/sdk.
func TestSDKEventSchemasAreCurrent(t *testing.T) {
	ours, err := fs.Glob(schemas.FS, "events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	theirs, _ := fs.Glob(conformance.EventSchemas, "schemas/events/*.json")
	if len(theirs) != len(ours) {
		t.Errorf("plugins/sdk/conformance has %d event schemas, schemas/events %d: run go generate in plugins/sdk/conformance", len(theirs), len(ours))
	}
	for _, f := range ours {
		want, _ := fs.ReadFile(schemas.FS, f)
		got, err := fs.ReadFile(conformance.EventSchemas, "schemas/"+f)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("plugins/sdk/conformance/schemas/%s is stale: run go generate in plugins/sdk/conformance", f)
		}
	}
}
