package workflow

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/schemas"
)

// Editors show titles and descriptions while typing: every property of the
// workflow schema has both.
func TestWorkflowSchemaDocumented(t *testing.T) {
	src, err := schemas.FS.ReadFile("workflow.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(src, &raw); err != nil {
		t.Fatal(err)
	}
	if _, err := workflowSchema(); err != nil {
		t.Fatalf("does not compile: %v", err)
	}
	var check func(path string, s map[string]any)
	check = func(path string, s map[string]any) {
		if s["additionalProperties"] == nil && s["type"] == "object" {
			t.Errorf("%s: object without additionalProperties", path)
		}
		props, _ := s["properties"].(map[string]any)
		for name, p := range props {
			pm := p.(map[string]any)
			if ref, ok := pm["$ref"].(string); ok {
				pm = raw["$defs"].(map[string]any)[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
			}
			if pm["title"] == nil || pm["description"] == nil {
				t.Errorf("%s.%s: missing title or description", path, name)
			}
			check(path+"."+name, pm)
		}
		if items, ok := s["items"].(map[string]any); ok {
			if ref, ok := items["$ref"].(string); ok {
				items = raw["$defs"].(map[string]any)[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
			}
			check(path+"[]", items)
		}
	}
	check("", raw)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestThirdPartyBlocks(t *testing.T) {
	cat := testCatalog{
		"csv":              catalog["csv"],
		"acme.pdf-stamper": {Kind: KindStep}, // no schema: any with
		"broken":           {Kind: KindStep, ConfigSchema: []byte(`{"type": 5}`)},
		"nojson":           {Kind: KindSink, ConfigSchema: []byte(`{`)},
	}
	path := writeFile(t, "w.yaml", `name: third-party
source:
  uses: csv
  with: {path: w.yaml}
blocks:
  - id: stamp
    uses: acme.pdf-stamper
    with: {anything: [1, 2.5, true, null, {x: y}]}
  - id: b
    uses: broken
  - id: n
    uses: nojson
`)
	_, probs := Load(path, cat)
	got := probs.Error()
	for _, want := range []string{
		`:10:11: block "b": uses: the configuration schema of "broken" does not compile, a bug in the block:`,
		`:12:11: block "n": uses: the configuration schema of "nojson" does not compile, a bug in the block: not JSON:`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if len(probs) != 2 {
		t.Errorf("got %d problems:\n%s", len(probs), got)
	}

	path = writeFile(t, "ok.yaml", "name: ok\nsource: {uses: csv, with: {path: ok.yaml}}\nblocks: [{id: s, uses: acme.pdf-stamper, with: {n: 1, f: 2.5, big: 18446744073709551615}}]\n")
	w, probs := Load(path, cat)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if got, want := string(w.Blocks[0].ConfigJSON()), `{"big":18446744073709552000,"f":2.5,"n":1}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, ok := w.Blocks[0].With["n"].(int64); !ok {
		t.Errorf("a whole number is %T, want int64", w.Blocks[0].With["n"])
	}
}

// YAML aliases cannot blow a small file up into a huge one.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: bomb\nsource: {uses: csv, with: {path: x}}\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("x" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	_, probs := Load(writeFile(t, "bomb.yaml", b.String()), catalog)
	if !strings.Contains(probs.Error(), "the file expands to more than 100000 values") {
		t.Errorf("got %v", probs)
	}
}
