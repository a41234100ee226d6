package workflow

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the .golden files from the current output")

// testCatalog is a small set of blocks with the shapes the real ones have.
type testCatalog map[string]BlockSpec

func (c testCatalog) Lookup(uses string) (BlockSpec, bool) {
	s, ok := c[uses]
	return s, ok
}

func (c testCatalog) Names() []string {
	var ns []string
	for n := range c {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

var catalog = testCatalog{
	"csv": {Kind: KindSource, ConfigSchema: []byte(`{
		"type": "object", "additionalProperties": false, "required": ["path"],
		"properties": {
			"path": {"type": "string", "format": "file-path"},
			"delimiter": {"type": "string", "maxLength": 1}
		}}`)},
	"template": {Kind: KindStep, Events: []string{"DOCUMENTS_CREATED"}, ConfigSchema: []byte(`{
		"type": "object", "additionalProperties": false, "required": ["template"],
		"properties": {
			"template": {"type": "string", "format": "file-path"},
			"name": {"type": "string"}
		}}`)},
	"email": {Kind: KindStep, Events: []string{"EMAILS_CREATED"}, ConfigSchema: []byte(`{
		"type": "object", "additionalProperties": false, "required": ["to"],
		"properties": {
			"to": {"type": "string"},
			"subject": {"type": "string"},
			"body": {"type": "string"},
			"attach": {"type": "array", "items": {"type": "string"}, "format": "block-ref"}
		}}`)},
	"webhook": {Kind: KindSink, ConfigSchema: []byte(`{
		"type": "object", "additionalProperties": false, "required": ["url"],
		"properties": {
			"url": {"type": "string", "format": "uri"},
			"token": {"type": "string"},
			"retries": {"type": "integer"},
			"timeout": {"type": "number"}
		}}`)},
}

var testSecrets = Secrets{"API_TOKEN": "tok-123", "SMTP_PASSWORD": "pw"}

// TestGolden loads every testdata/*.yaml and compares the problems, or the
// loaded plan of a good file, with testdata/*.golden.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			w, probs := Load(file, catalog, WithSecrets(testSecrets))
			var got string
			if len(probs) > 0 {
				if w != nil {
					t.Error("Load returned a workflow and problems")
				}
				got = probs.Error() + "\n"
			} else {
				got = plan(w)
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs (run go test -update to accept):\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// generated are inputs too big to keep in testdata, written out by the
// test; their problems are compared with testdata/generated/<name>.golden,
// as TestGolden does, with the file named testdata/generated/<name>.yaml.
var generated = []struct {
	name string
	yaml func() string
}{
	// 341,832 plain blocks in 10 MB: refused for its size alone, before
	// it is parsed.
	{"plain-blocks-10mb", func() string {
		var b strings.Builder
		b.WriteString("name: big\nsource: {uses: csv, with: {path: data/people.csv}}\nblocks:\n")
		for i := range 341_832 {
			fmt.Fprintf(&b, "  - {id: b%d, uses: email}\n", i)
		}
		return b.String()
	}},
	// More values than the loader builds, written out without an alias:
	// one problem, and no word of aliases.
	{"plain-values", func() string {
		return "description:\n" + strings.Repeat("  - 0\n", maxNodes) + "name: plain\nsource: {uses: csv, with: {path: data/people.csv}}\n"
	}},
	{"plain-deep", func() string {
		return "description: " + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + "\nname: plain\nsource: {uses: csv, with: {path: data/people.csv}}\n"
	}},
}

func TestGoldenGenerated(t *testing.T) {
	dir := workflowDir(t)
	for _, g := range generated {
		t.Run(g.name, func(t *testing.T) {
			path := filepath.Join(dir, g.name+".yaml")
			if err := os.WriteFile(path, []byte(g.yaml()), 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			w, probs := Load(path, catalog, WithSecrets(testSecrets))
			if took := time.Since(start); took > loadBudget {
				t.Errorf("Load took %v, over the budget of %v", took, loadBudget)
			}
			if w != nil || len(probs) == 0 {
				t.Fatalf("Load returned workflow %v and %d problems, want problems only", w != nil, len(probs))
			}
			name := "testdata/generated/" + g.name
			for i := range probs {
				probs[i].File = name + ".yaml"
			}
			got := probs.Error() + "\n"
			if *update {
				if err := os.WriteFile(name+".golden", []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(name + ".golden")
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s.golden differs (run go test -update to accept):\n--- got\n%s--- want\n%s", name, trimProblems(got), want)
			}
		})
	}
}

// trimProblems keeps a failure message readable when a file gets
// thousands of problems.
func trimProblems(s string) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= 12 {
		return s
	}
	return strings.Join(lines[:10], "") + fmt.Sprintf("... and %d more lines\n", len(lines)-10)
}

// plan writes what Load made of a good file.
func plan(w *Workflow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "workflow %s: %s\n", w.Name, w.Description)
	blocks := append([]Block{w.Source}, w.Blocks...)
	for _, bl := range blocks {
		id := bl.ID
		if id == "" {
			id = "(source)"
		}
		fmt.Fprintf(&b, "%s at %d:%d: %s, a %s block", id, bl.Line, bl.Col, bl.Uses, bl.Kind)
		if bl.Static() {
			b.WriteString(", static")
		}
		if bl.If != "" {
			fmt.Fprintf(&b, ", if %s", bl.If)
		}
		fmt.Fprintf(&b, "\n  with: %s\n", bl.ConfigJSON())
	}
	return b.String()
}

func TestLoadPaths(t *testing.T) {
	w, probs := Load("testdata/good.yaml", catalog)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	abs, _ := filepath.Abs("testdata/good.yaml")
	if w.File != abs || w.Dir != filepath.Dir(abs) {
		t.Errorf("File %q, Dir %q", w.File, w.Dir)
	}
	if b := w.Block("send"); b == nil || b.Uses != "email" {
		t.Errorf("Block(send) = %+v", b)
	}
	if w.Block("nope") != nil {
		t.Error("Block(nope) found something")
	}
}

func TestLoadWithoutSecretsOption(t *testing.T) {
	// Without WithSecrets, secret references are not checked.
	if _, probs := Load("testdata/unknown-secret.yaml", catalog); len(probs) > 0 {
		t.Fatal(probs)
	}
	_, probs := Load("testdata/unknown-secret.yaml", catalog, WithSecrets(nil))
	if len(probs) != 3 {
		t.Fatalf("got %d problems, want 3:\n%v", len(probs), probs)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, probs := Load("testdata/does-not-exist.yaml", catalog)
	if len(probs) != 1 || !strings.Contains(probs[0].String(), "testdata/does-not-exist.yaml: cannot read the workflow file") {
		t.Fatalf("got %v", probs)
	}
	if probs.Err() == nil || Problems(nil).Err() != nil {
		t.Error("Err")
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{"f.yaml", 3, 7, "msg"}, "f.yaml:3:7: msg"},
		{Problem{"f.yaml", 3, 0, "msg"}, "f.yaml:3: msg"},
		{Problem{"f.yaml", 0, 0, "msg"}, "f.yaml: msg"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	ps := Problems{{"f", 9, 1, "b"}, {"f", 2, 5, "a"}, {"f", 9, 1, "b"}, {"f", 2, 1, "c"}}.sorted()
	if got, want := ps.Error(), "f:2:1: c\nf:2:5: a\nf:9:1: b"; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestMaxBlocksLoad: a workflow of exactly MaxBlocks blocks loads.
func TestMaxBlocksLoad(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: full\nsource: {uses: csv, with: {path: data/people.csv}}\nblocks:\n")
	for i := range MaxBlocks {
		fmt.Fprintf(&b, "  - {id: b%d, uses: email, with: {to: x}}\n", i)
	}
	path := filepath.Join(workflowDir(t), "full.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	w, probs := Load(path, catalog)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if len(w.Blocks) != MaxBlocks {
		t.Errorf("%d blocks loaded, want %d", len(w.Blocks), MaxBlocks)
	}
}
