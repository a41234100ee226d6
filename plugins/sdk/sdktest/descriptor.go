package sdktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// UpdateGoldenEnv is the environment variable that makes GoldenDescriptor
// write its file instead of comparing: PAPERFLOW_UPDATE_GOLDEN=1 go test.
const UpdateGoldenEnv = "PAPERFLOW_UPDATE_GOLDEN"

// goldenDescriptor is a Descriptor as its golden file holds it.
type goldenDescriptor struct {
	Name         string          `json:"name"`
	Kind         sdk.Kind        `json:"kind"`
	Version      string          `json:"version"`
	Description  string          `json:"description"`
	Events       []string        `json:"events,omitempty"`
	ConfigSchema json.RawMessage `json:"config_schema"`
}

// GoldenDescriptor fails t unless d says what the JSON file at path says:
// the same name, kind, version, description, events and config schema, the
// schema compared as a JSON value (so its layout may change, not its
// content). It pins what a block tells the host, whichever way the block
// builds its Descriptor. With UpdateGoldenEnv set it writes d to path.
func GoldenDescriptor(t testing.TB, d sdk.Descriptor, path string) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // descriptions write <address> as they mean it
	enc.SetIndent("", "  ")
	if err := enc.Encode(goldenDescriptor{
		Name: d.Name, Kind: d.Kind, Version: d.Version, Description: d.Description,
		Events: d.Events, ConfigSchema: d.ConfigSchema,
	}); err != nil {
		t.Fatalf("descriptor of %s: %v", d.Name, err)
	}
	got := buf.Bytes()
	if os.Getenv(UpdateGoldenEnv) != "" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (%s=1 go test writes it)", err, UpdateGoldenEnv)
	}
	equal, err := sameJSON(got, want)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !equal {
		t.Errorf("Describe differs from %s (%s=1 go test accepts it):\n--- got\n%s\n--- want\n%s", path, UpdateGoldenEnv, got, want)
	}
}

// sameJSON says whether a and b hold the same JSON value.
func sameJSON(a, b []byte) (bool, error) {
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return false, fmt.Errorf("decode: %w", err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		return false, fmt.Errorf("decode: %w", err)
	}
	return reflect.DeepEqual(va, vb), nil
}
