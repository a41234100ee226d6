package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
)

var update = flag.Bool("update", false, "rewrite the .golden files from the current output")

// TestRead reads each file and compares the items with its golden file:
// one line per item, "origin fields-as-JSON" or "origin ERROR message".
func TestRead(t *testing.T) {
	cases := []struct {
		golden string
		dir    string // workflow directory, "testdata" when empty
		with   map[string]any
		skip   int64
	}{
		{golden: "array", with: map[string]any{"path": "array.json"}},
		{golden: "compact_array", with: map[string]any{"path": "compact_array.json"}},
		{golden: "bom_array", with: map[string]any{"path": "bom_array.json"}},
		{golden: "array_non_object", with: map[string]any{"path": "array_non_object.json"}},
		{golden: "array_broken", with: map[string]any{"path": "array_broken.json"}},
		{golden: "array_missing_comma", with: map[string]any{"path": "array_missing_comma.json"}},
		{golden: "array_truncated", with: map[string]any{"path": "array_truncated.json"}},
		{golden: "array_cut_in_element", with: map[string]any{"path": "array_cut_in_element.json"}},
		{golden: "array_trailing", with: map[string]any{"path": "array_trailing.json"}},
		{golden: "lines", with: map[string]any{"path": "lines.ndjson"}},
		{golden: "lines_skip4", with: map[string]any{"path": "lines.ndjson"}, skip: 4},
		{golden: "pointer_rows", with: map[string]any{"path": "document.json", "pointer": "/data/rows"}},
		{golden: "pointer_index", with: map[string]any{"path": "document.json", "pointer": "/pages/1/items"}},
		{golden: "pointer_escaped", with: map[string]any{"path": "document.json", "pointer": "/a~1b/c~0d"}},
		{golden: "pointer_root", with: map[string]any{"path": "compact_array.json", "pointer": ""}},
		{golden: "object_doc", with: map[string]any{"path": "object_doc.json"}},
		{golden: "empty", with: map[string]any{"path": "empty.json"}},
		{golden: "empty", with: map[string]any{"path": "spaces.ndjson"}},
		{golden: "orders", dir: "../../examples/data", with: map[string]any{"path": "orders.ndjson"}},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			b := configure(t, tc.dir, tc.with)
			items := readAll(t, b, tc.skip)
			checkGolden(t, filepath.Join("testdata", tc.golden+".golden"), render(items))
		})
	}
}

// TestItemFields checks what a block downstream sees: nested objects
// stay nested and numbers stay as written.
func TestItemFields(t *testing.T) {
	b := configure(t, "", map[string]any{"path": "array.json"})
	items := readAll(t, b, 0)
	fields, err := items[0].Fields()
	if err != nil {
		t.Fatal(err)
	}
	customer, ok := fields["customer"].(map[string]any)
	if !ok || customer["name"] != "Zoë Ångström" {
		t.Errorf("customer = %#v, want a nested object with name Zoë Ångström", fields["customer"])
	}
	if big := fields["big"]; big != json.Number("12345678901234567890") {
		t.Errorf("big = %#v, want json.Number 12345678901234567890", big)
	}
	price := fields["items"].([]any)[0].(map[string]any)["unit_price"]
	if price != json.Number("1450.10") {
		t.Errorf("unit_price = %#v, want json.Number 1450.10", price)
	}
	if note := fields["note"]; note != "{{customer.name}} <b>&" {
		t.Errorf("note = %#v: a value is data, kept as written", note)
	}
}

// TestReadSkipKeepsNumbering checks that skipping n items yields exactly
// the tail of a full read, error items included.
func TestReadSkipKeepsNumbering(t *testing.T) {
	for _, with := range []map[string]any{
		{"path": "lines.ndjson"},
		{"path": "array_non_object.json"},
		{"path": "array_broken.json"},
		{"path": "document.json", "pointer": "/data/rows"},
	} {
		b := configure(t, "", with)
		all := render(readAll(t, b, 0))
		for skip := range len(all) + 2 {
			got := render(readAll(t, b, int64(skip)))
			want := all[min(skip, len(all)):]
			if !slices.Equal(got, want) {
				t.Errorf("%v skip %d:\n got %q\nwant %q", with, skip, got, want)
			}
		}
	}
}

func TestReadBatches(t *testing.T) {
	for _, format := range []string{"array", "ndjson"} {
		path := filepath.Join(t.TempDir(), "many."+format)
		writeRecords(t, path, format, 1000)
		b := configure(t, "", map[string]any{"path": path})
		var sizes []int
		err := b.Read(context.Background(), sdk.ReadRequest{RunID: "r"}, func(items []sdk.Item) error {
			sizes = append(sizes, len(items))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{256, 256, 256, 232}; !slices.Equal(sizes, want) {
			t.Errorf("%s: batch sizes %v, want %v", format, sizes, want)
		}
	}
}

func TestConfigureErrors(t *testing.T) {
	cases := []struct {
		with map[string]any
		want string
	}{
		{map[string]any{"path": "missing.json"}, "json: open testdata/missing.json: no such file or directory"},
		{map[string]any{"path": "scalar.json"}, `json: scalar.json: the file starts with '"': want a JSON array of objects`},
		{map[string]any{"path": "pretty_document.json"}, `json: pretty_document.json:1: this is one JSON document over lines 1-6, not NDJSON (one object per line): set pointer to /data or /more`},
		{map[string]any{"path": "document.json", "pointer": "/data/missing"}, `json: document.json:10: pointer: the object at /data has no key "missing"`},
		{map[string]any{"path": "document.json", "pointer": "/data/count"}, `json: document.json:4: pointer /data/count is a number, not an array of records`},
		{map[string]any{"path": "document.json", "pointer": "/data/count/x"}, `json: document.json:4: pointer: /data/count is a number, so it has no "x" in it`},
		{map[string]any{"path": "document.json", "pointer": "/pages/2"}, `json: document.json:11: pointer: the array at /pages has 2 elements, so no index 2`},
		{map[string]any{"path": "document.json", "pointer": "/pages/01"}, `json: document.json:11: pointer: /pages is an array, and "01" is not an index in it`},
		{map[string]any{"path": "document.json", "pointer": "data"}, `json: pointer "data" must start with /`},
		{map[string]any{"path": "document.json", "pointer": "/a~2"}, `json: pointer "/a~2": a ~ must be followed by 0 (for ~) or 1 (for /)`},
		{map[string]any{"path": "object_doc.json", "pointer": ""}, ""},
		{map[string]any{"path": "array_broken.json", "pointer": "/x"}, `json: array_broken.json:1: pointer: the document's root is an array, and "x" is not an index in it`},
		{map[string]any{}, "json: with.path is required"},
	}
	for _, tc := range cases {
		raw, _ := json.Marshal(tc.with)
		err := (&Block{}).Configure(context.Background(), sdk.Config{BlockID: "rows", With: raw, WorkflowDir: "testdata"})
		if tc.want == "" {
			if err != nil {
				t.Errorf("with %s: unexpected error %v", raw, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("with %s:\n got error %v\nwant one starting %q", raw, err, tc.want)
		}
	}
}

func TestDescribeSchemaIsJSON(t *testing.T) {
	d := (&Block{}).Describe()
	var schema map[string]any
	if err := json.Unmarshal(d.ConfigSchema, &schema); err != nil {
		t.Fatalf("config schema: %v", err)
	}
	if d.Name != "json" || d.Kind != sdk.KindSource {
		t.Errorf("describe: %+v", d)
	}
}

func configure(t testing.TB, dir string, with map[string]any) *Block {
	t.Helper()
	if dir == "" {
		dir = "testdata"
	}
	raw, err := json.Marshal(with)
	if err != nil {
		t.Fatal(err)
	}
	b := &Block{}
	if err := b.Configure(context.Background(), sdk.Config{Workflow: "test", BlockID: "rows", With: raw, WorkflowDir: dir}); err != nil {
		t.Fatalf("configure: %v", err)
	}
	return b
}

func readAll(t testing.TB, b *Block, skip int64) []sdk.Item {
	t.Helper()
	var items []sdk.Item
	err := b.Read(context.Background(), sdk.ReadRequest{RunID: "run-1", Skip: skip}, func(batch []sdk.Item) error {
		if len(batch) == 0 || len(batch) > sdk.SourceBatchSize {
			t.Errorf("batch of %d items", len(batch))
		}
		items = append(items, batch...)
		return nil
	})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return items
}

func render(items []sdk.Item) []string {
	lines := make([]string, len(items))
	for i, it := range items {
		if it.Err != "" {
			lines[i] = it.Origin + " ERROR " + it.Err
		} else {
			lines[i] = it.Origin + " " + string(it.RawFields)
		}
	}
	return lines
}

func checkGolden(t *testing.T, path string, lines []string) {
	t.Helper()
	got := strings.Join(lines, "\n") + "\n"
	if len(lines) == 0 {
		got = ""
	}
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("items differ from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestReadRecordTooLong: an unclosed string must not make the reader
// buffer the rest of a big file. In an array that ends the reading; in
// NDJSON only the long line is lost.
func TestReadRecordTooLong(t *testing.T) {
	filler := strings.Repeat("x", maxRecordBytes+1000)
	dir := t.TempDir()
	files := map[string]string{
		"long.json":   "[\n{\"n\": 1},\n{\"n\": \"" + filler + "\n, {\"n\": 3}]\n",
		"long.ndjson": "{\"n\": 1}\n{\"n\": \"" + filler + "\"}\n{\"n\": 3}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		file string
		want []string
	}{
		{"long.json", []string{
			`long.json:2 {"n":1}`,
			"long.json:3 ERROR long.json:3: array element 2 is longer than 8 MiB or never ends (an unclosed string or bracket?); the rest of the file cannot be read",
		}},
		{"long.ndjson", []string{
			`long.ndjson:1 {"n":1}`,
			"long.ndjson:2 ERROR long.ndjson:2: the line is longer than 8 MiB",
			`long.ndjson:3 {"n":3}`,
		}},
	}
	for _, tc := range cases {
		got := render(readAll(t, configure(t, dir, map[string]any{"path": tc.file}), 0))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.file, got, tc.want)
		}
	}
}
