package sdktest_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/sdktest"
)

// recorder is a testing.TB that keeps the failures of GoldenDescriptor.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func TestGoldenDescriptor(t *testing.T) {
	golden := filepath.Join(t.TempDir(), "descriptor.json")
	const file = `{"name": "stamp", "kind": "step", "version": "1", "description": "stamps",
  "events": ["DOCUMENTS_CREATED"], "config_schema": {"type": "object", "required": ["a"]}}`
	if err := os.WriteFile(golden, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	same := sdk.Descriptor{
		Name: "stamp", Kind: sdk.KindStep, Version: "1", Description: "stamps",
		ConfigSchema: json.RawMessage("{\n\"required\":[\"a\"],  \"type\":\"object\"}"),
		Events:       []string{"DOCUMENTS_CREATED"},
	}
	otherSchema := same
	otherSchema.ConfigSchema = json.RawMessage(`{"type": "object"}`)
	otherVersion := same
	otherVersion.Version = "2"
	noEvents := same
	noEvents.Events = nil
	cases := []struct {
		name string
		d    sdk.Descriptor
		ok   bool
	}{
		{"same content, other layout", same, true},
		{"other schema", otherSchema, false},
		{"other version", otherVersion, false},
		{"no events", noEvents, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{TB: t}
			sdktest.GoldenDescriptor(r, c.d, golden)
			if ok := len(r.failures) == 0; ok != c.ok {
				t.Errorf("GoldenDescriptor passed %v, want %v: %v", ok, c.ok, r.failures)
			}
		})
	}
}
