package manifest_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/manifest"
)

func TestParse(t *testing.T) {
	const good = `{
  "name": "stamp",
  "kind": "step",
  "description": "stamps documents",
  "events": ["DOCUMENTS_CREATED"],
  "config_schema": {"type": "object", "properties": {"text": {"type": "string"}}}
}`
	d, err := manifest.Parse([]byte(good), "1.2.3")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := sdk.Descriptor{
		Name: "stamp", Kind: sdk.KindStep, Version: "1.2.3", Description: "stamps documents",
		ConfigSchema: json.RawMessage(`{"type": "object", "properties": {"text": {"type": "string"}}}`),
		Events:       []string{"DOCUMENTS_CREATED"},
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Parse = %+v\nwant %+v", d, want)
	}
}

func TestParseSourceWithoutEvents(t *testing.T) {
	d, err := manifest.Parse([]byte(`{"name": "rows", "kind": "source", "config_schema": {}}`), "1")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if d.Events != nil || d.Kind != sdk.KindSource || string(d.ConfigSchema) != "{}" {
		t.Errorf("Parse = %+v", d)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, manifest, version string
		want                    string // in the error
	}{
		{"not JSON", `{"name": "x",` + "\n" + `  "kind" "step"}`, "1", "line 2, column 10"},
		{"two values", `{"name": "x", "kind": "step", "config_schema": {}} {}`, "1", "more than one JSON value"},
		{"unknown field", `{"name": "x", "kind": "step", "event": [], "config_schema": {}}`, "1", `unknown field "event"`},
		{"wrong type", `{"name": "x", "kind": "step", "events": "DOCUMENTS_CREATED", "config_schema": {}}`, "1", "events: string where the manifest wants []string"},
		{"no name", `{"kind": "step", "config_schema": {}}`, "1", "block manifest: name: empty"},
		{"bad kind", `{"name": "x", "kind": "stp", "config_schema": {}}`, "1", `block manifest of x: kind: "stp": want source, step or sink`},
		{"no kind", `{"name": "x", "config_schema": {}}`, "1", `kind: "": want source, step or sink`},
		{"unknown event", `{"name": "x", "kind": "step", "events": ["DOCUMENTS_CREATED", "DOCS_MADE"], "config_schema": {}}`, "1", `events[1]: "DOCS_MADE" is not an event type of the SDK`},
		{"event twice", `{"name": "x", "kind": "sink", "events": ["EMAILS_CREATED", "EMAILS_CREATED"], "config_schema": {}}`, "1", `events[1]: "EMAILS_CREATED" is listed twice`},
		{"no schema", `{"name": "x", "kind": "step"}`, "1", "config_schema: missing"},
		{"null schema", `{"name": "x", "kind": "step", "config_schema": null}`, "1", "config_schema: missing"},
		{"schema a string", `{"name": "x", "kind": "step", "config_schema": "{}"}`, "1", "config_schema: not a JSON object"},
		{"no version", `{"name": "x", "kind": "step", "config_schema": {}}`, "", "version: empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := manifest.Parse([]byte(c.manifest), c.version)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Error("MustParse of a manifest without a kind did not panic")
		}
	}()
	manifest.MustParse([]byte(`{"name": "x", "config_schema": {}}`), "1")
}
