package workflow

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loadBudget is how long one Load of a hostile input may take. A workflow
// file is read by every `paperflow validate` and `run`, so no input may make
// the loader take long; the budget is loose so that a busy machine does not
// fail the test.
const loadBudget = 10 * time.Second

// FuzzLoad feeds arbitrary bytes to Load as a workflow file. Seeds, the
// hostile ones among them (alias bombs, deep nesting, NUL, invalid UTF-8,
// UTF-16, unclosed brackets), are in testdata/fuzz/FuzzLoad; inputs too big
// to mutate quickly are in TestLoadBigInputs.
func FuzzLoad(f *testing.F) {
	dir := workflowDir(f)
	good, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	path := filepath.Join(dir, "workflow.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkLoad(t, path, data)
	})
}

// TestLoadBigInputs runs the checks of FuzzLoad on inputs of up to a few
// megabytes: a 1 MB scalar, 100,000 nested brackets, a billion laughs.
func TestLoadBigInputs(t *testing.T) {
	path := filepath.Join(workflowDir(t), "workflow.yaml")
	for _, in := range bigSeeds() {
		t.Run(in.name, func(t *testing.T) {
			checkLoad(t, path, []byte(in.yaml))
		})
	}
}

// workflowDir makes a folder with the files the test workflows refer to.
func workflowDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, name := range []string{"data/people.csv", "templates/invoice.txt"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// checkLoad loads data written to path and checks what holds for any
// input: Load returns within loadBudget, with either a workflow or problems,
// never both and never neither, and each problem names the file and a line
// in it. A message without file:line is one a user cannot act on.
func checkLoad(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	w, probs := Load(path, catalog, WithSecrets(testSecrets))
	if took := time.Since(start); took > loadBudget {
		t.Fatalf("Load took %v, over the budget of %v", took, loadBudget)
	}
	if (w == nil) == (len(probs) == 0) {
		t.Fatalf("Load returned workflow %v and %d problems: want exactly one of them", w != nil, len(probs))
	}
	lines := yamlLines(data)
	for _, p := range probs {
		s := p.String()
		if p.File != path || !strings.HasPrefix(s, path+":") {
			t.Fatalf("problem does not name the file %s: %q", path, s)
		}
		// YAML syntax errors come without a column (yaml.v3 gives none),
		// but every problem has a line in the file.
		if len(data) > MaxFileBytes && len(probs) == 1 && p.Line == 0 && strings.Contains(p.Msg, "a workflow file may be") {
			continue // a file over the size limit is not read: no line to name
		}
		if p.Line < 1 || p.Line > lines || p.Col < 0 {
			t.Fatalf("problem at %d:%d, outside the file's %d lines: %q", p.Line, p.Col, lines, s)
		}
		if strings.TrimSpace(p.Msg) == "" {
			t.Fatalf("problem without a message: %q", s)
		}
	}
}

// yamlLines counts the lines of data as YAML does: \r\n, \n, a lone \r and
// the Unicode line breaks NEL, LS and PS each end one.
func yamlLines(data []byte) int {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	n := 1
	for _, br := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
		n += strings.Count(s, br)
	}
	return n
}

// bigSeeds are hostile inputs too large to keep as seed files or to mutate
// quickly.
func bigSeeds() []struct{ name, yaml string } {
	head := "name: big\nsource:\n  uses: csv\n  with: {path: data/people.csv}\n"

	// Billion laughs: ten aliases to the level below, nine levels deep,
	// would be 10^9 values written out.
	var laughs strings.Builder
	laughs.WriteString(head + "x0: &x0 [lol]\n")
	for i := 1; i <= 9; i++ {
		laughs.WriteString("x" + strconv.Itoa(i) + ": &x" + strconv.Itoa(i) + " [")
		for j := range 10 {
			if j > 0 {
				laughs.WriteString(", ")
			}
			laughs.WriteString("*x" + strconv.Itoa(i-1))
		}
		laughs.WriteString("]\n")
	}

	// The same bomb through merge keys, which expand maps instead of lists.
	var merges strings.Builder
	merges.WriteString(head + "m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}\n")
	for i := 1; i <= 9; i++ {
		merges.WriteString("m" + strconv.Itoa(i) + ": &m" + strconv.Itoa(i) + " {")
		for j := range 10 {
			if j > 0 {
				merges.WriteString(", ")
			}
			merges.WriteString("k" + strconv.Itoa(j) + ": *m" + strconv.Itoa(i-1))
		}
		merges.WriteString(", <<: *m" + strconv.Itoa(i-1) + "}\n")
	}

	// Syntax errors are located by parsing prefixes of the file, which
	// must stay bounded however many lines fail to parse.
	longLines := head + "blocks:\n" + strings.Repeat("  - {id: a, uses: noop, with: {text: \""+strings.Repeat("x", 180)+"\"}}\n", 4700) + "  - [\n: ]\n"
	neverClosed := "name: [\n" + strings.Repeat("# "+strings.Repeat("x", 198)+"\n", 4990)

	return []struct{ name, yaml string }{
		{"billion laughs", laughs.String()},
		{"billion laughs through merge keys", merges.String()},
		{"100000 nested lists", head + "deep: " + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "\n"},
		{"20000 nested maps", head + "deep: " + strings.Repeat("{a: ", 20_000) + "1" + strings.Repeat("}", 20_000) + "\n"},
		{"50000 nested block lists", head + strings.Repeat("- ", 50_000) + "x\n"},
		{"1 MB scalar", head + "description: " + strings.Repeat("a", MaxFileBytes-len(head)-14) + "\n"},
		{"a byte over the size limit", head + "description: " + strings.Repeat("a", MaxFileBytes-len(head)-13) + "\n"},
		{"10 MB of plain blocks", head + "blocks:\n" + strings.Repeat("  - {id: b, uses: email}\n", 400_000)},
		{"half a MB of tag openings", head + "description: \"" + strings.Repeat("{{", 1<<18) + "\"\n"},
		{"10000 unclosed sections", head + "blocks:\n  - id: n\n    uses: email\n    with: {to: \"" + strings.Repeat("{{#if A}}", 10_000) + "\"}\n"},
		{"long key above aliased values", "a: &a [" + strings.Repeat("x,", 100) + "]\n? " + strings.Repeat("k", 1<<18) + "\n: [" + strings.Repeat("*a,", 200) + "]\n"},
		{"syntax error after 1 MB", longLines},
		{"bracket never closed, 1 MB", neverClosed},
		{"NUL after 6000 lines", strings.Repeat("a: 1\n", 6000) + "b: \x00\n"},
		{"bracket never closed after 6000 lines", strings.Repeat("# comment\n", 6000) + "name: [\n"},
	}
}

// TestLoadHostileFiles checks the answers to files made to exhaust the
// loader: each is refused quickly, with a problem at the place that causes
// it.
func TestLoadHostileFiles(t *testing.T) {
	head := "name: hostile\nsource:\n  uses: csv\n  with: {path: data/people.csv}\n"
	cases := []struct {
		name, yaml string
		want       string // in the problems, after "file:"
	}{
		{"alias inside itself", "name: &a [*a]\n",
			"1:11: alias *a is inside the value it names, so that value would never end; remove the alias"},
		{"merge of itself", head + "blocks:\n  - &b {id: a, uses: email, with: {to: x}, <<: *b}\n",
			"6:48: alias *b is inside the value it names"},
		{"billion laughs", bigSeeds()[0].yaml, "the file expands to more than 100000 values, through YAML aliases"},
		{"long key over aliased values",
			"a: &a [" + strings.Repeat("x,", 100) + "]\n? " + strings.Repeat("k", 1<<18) + "\n: [" + strings.Repeat("*a,", 200) + "]\n",
			"the file expands to more than 32 MiB of keys and values"},
		{"deep nesting", head + "description: " + strings.Repeat("[", 150) + strings.Repeat("]", 150) + "\n",
			"5:113: values nest more than 100 maps and lists deep"},
		{"NUL", "name: ok\nsource:\n  uses: c\x00sv\n", "3:10: invalid YAML: character U+0000 is not allowed in YAML"},
		{"NUL after many lines", strings.Repeat("# x\n", 6000) + "name: \x00\n", "6001:7: invalid YAML: character U+0000"},
		{"invalid UTF-8", "name: ok\ndescription: caf\xe9\n", "2:17: invalid YAML: byte 0xE9 is not UTF-8: save the file as UTF-8"},
		{"UTF-16", "\xff\xfen\x00a\x00m\x00e\x00:\x00\x00\xd8", "1:1: invalid YAML: incomplete UTF-16 surrogate pair: the file is UTF-16"},
		{"bracket never closed", "name: [\n" + strings.Repeat("  a,\n", 4990), "4991: invalid YAML: did not find expected node content"},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "workflow.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, probs := Load(path, catalog)
			if took := time.Since(start); took > loadBudget {
				t.Errorf("Load took %v", took)
			}
			if len(probs) == 0 {
				t.Fatal("no problems")
			}
			if got := strings.TrimPrefix(probs.Error(), path+":"); !strings.Contains(got, tc.want) {
				t.Errorf("got\n%s\nwant a problem containing\n%s", got, tc.want)
			}
		})
	}
}

// TestLoadNestedMerge checks that a merged map brings the keys it merges
// itself, and that keys written out win at every level.
func TestLoadNestedMerge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "workflow.yaml")
	src := `name: merge
source: {uses: csv, with: {path: ` + filepath.Join(mustAbs(t, "testdata"), "data/people.csv") + `}}
blocks:
  - id: base
    uses: email
    with: &base {to: base, subject: base, body: base}
  - id: mid
    uses: email
    with: &mid {<<: *base, subject: mid}
  - id: top
    uses: email
    with: {<<: *mid, body: top}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	w, probs := Load(path, catalog)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if got, want := string(w.Block("top").ConfigJSON()), `{"body":"top","subject":"mid","to":"base"}`; got != want {
		t.Errorf("with: %s, want %s", got, want)
	}
}

func mustAbs(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
