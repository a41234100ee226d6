package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const repoRoot = "../../../.."

// TestGeneratedFilesAreCurrent regenerates every file made from
// schemas/events in a temporary directory and compares it with the
// committed one: a schema changed without `go generate ./...` fails here.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	files, err := generate(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if err := write(tmp, files); err != nil {
		t.Fatal(err)
	}
	for rel := range files {
		fresh, err := os.ReadFile(filepath.Join(tmp, rel))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil || !bytes.Equal(fresh, committed) {
			t.Errorf("%s is stale: run go generate ./host/events (err %v)", rel, err)
		}
	}
	copies, _ := filepath.Glob(filepath.Join(repoRoot, conformCopies, "*.json"))
	for _, c := range copies {
		rel, _ := filepath.Rel(repoRoot, c)
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			t.Errorf("%s has no schema in %s any more: run go generate ./host/events", rel, schemaDir)
		}
	}
}

func TestRewriteEnumKeepsTheRest(t *testing.T) {
	env := []byte("{\n  \"properties\": {\n    \"eventType\": {\n      \"type\": \"string\",\n      \"enum\": [\"OLD\"]\n    },\n    \"data\": {\"enum\": [1]}\n  }\n}\n")
	got, err := rewriteEnum(env, []eventType{{Name: "A_B"}, {Name: "C"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"properties\": {\n    \"eventType\": {\n      \"type\": \"string\",\n      \"enum\": [\n        \"A_B\",\n        \"C\"\n      ]\n    },\n    \"data\": {\"enum\": [1]}\n  }\n}\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestReadTypeRefusesInconsistentNames(t *testing.T) {
	for _, tc := range []struct{ file, schema, want string }{
		{"y.json", `{"title": "y", "properties": {"eventType": {"const": "y"}, "data": {}}}`, "upper case"},
		{"x.json", `{"title": "Y_Z", "properties": {"eventType": {"const": "Y_Z"}, "data": {}}}`, "y_z.json"},
		{"yy.json", `{"title": "YY", "properties": {"eventType": {"const": "Z"}, "data": {}}}`, "const"},
	} {
		o, err := parseObject([]byte(tc.schema))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readType(tc.file, o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: err %v, want one mentioning %q", tc.file, tc.schema, err, tc.want)
		}
	}
}

func TestGoName(t *testing.T) {
	for in, want := range map[string]string{"signature_url": "SignatureURL", "message_id": "MessageID", "ip": "IP", "documents_created": "DocumentsCreated", "user_agent": "UserAgent"} {
		if got := goName(in); got != want {
			t.Errorf("goName(%q) = %q, want %q", in, got, want)
		}
	}
}
