package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
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
		{golden: "plain", with: map[string]any{"path": "plain.csv"}},
		{golden: "bom_crlf", with: map[string]any{"path": "bom_crlf.csv"}},
		{golden: "bom_unquoted", with: map[string]any{"path": "bom_unquoted.csv"}},
		{golden: "semicolon", with: map[string]any{"path": "semicolon.csv", "delimiter": ";"}},
		{golden: "tabs", with: map[string]any{"path": "tabs.tsv", "delimiter": "\t"}},
		{golden: "tabs", with: map[string]any{"path": "tabs.tsv", "delimiter": `\t`}},
		{golden: "multiline", with: map[string]any{"path": "multiline.csv"}},
		{golden: "malformed", with: map[string]any{"path": "malformed.csv"}},
		{golden: "malformed_skip3", with: map[string]any{"path": "malformed.csv"}, skip: 3},
		{golden: "multiline_bare_quote", with: map[string]any{"path": "multiline_bare_quote.csv"}},
		{golden: "unclosed_quote", with: map[string]any{"path": "unclosed_quote.csv"}},
		{golden: "swallowed_row", with: map[string]any{"path": "swallowed_row.csv"}},
		{golden: "unclosed_at_eof", with: map[string]any{"path": "unclosed_at_eof.csv"}},
		{golden: "resync_chain", with: map[string]any{"path": "resync_chain.csv", "comment": "#"}},
		{golden: "resync_chain_crlf", with: map[string]any{"path": "resync_chain_crlf.csv", "comment": "#"}},
		{golden: "empty_lines", with: map[string]any{"path": "empty_lines.csv", "comment": "#"}},
		{golden: "people", dir: "../../examples/data", with: map[string]any{"path": "people.csv"}},
		{golden: "broken", dir: "../../examples/data", with: map[string]any{"path": "broken.csv"}},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			b := configure(t, tc.dir, tc.with)
			items := readAll(t, b, tc.skip)
			checkGolden(t, filepath.Join("testdata", tc.golden+".golden"), render(items))
		})
	}
}

// TestReadSkipKeepsNumbering checks that skipping n items yields exactly
// the tail of a full read, error items included.
func TestReadSkipKeepsNumbering(t *testing.T) {
	for _, file := range []string{"malformed.csv", "unclosed_quote.csv", "multiline.csv", "resync_chain.csv"} {
		b := configure(t, "", map[string]any{"path": file, "comment": "#"})
		all := render(readAll(t, b, 0))
		for skip := range len(all) + 2 {
			got := render(readAll(t, b, int64(skip)))
			want := all[min(skip, len(all)):]
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s skip %d:\n got %q\nwant %q", file, skip, got, want)
			}
		}
	}
}

func TestReadBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "many.csv")
	writeRows(t, path, 1000)
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
		t.Errorf("batch sizes %v, want %v", sizes, want)
	}
}

func TestReadStopsWhenCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "many.csv")
	writeRows(t, path, 10000)
	b := configure(t, "", map[string]any{"path": path})
	ctx, cancel := context.WithCancel(context.Background())
	batches := 0
	err := b.Read(ctx, sdk.ReadRequest{RunID: "r"}, func([]sdk.Item) error {
		batches++
		cancel()
		return nil
	})
	if err != context.Canceled || batches != 1 {
		t.Errorf("got %v after %d batches, want context.Canceled after 1", err, batches)
	}
}

func TestConfigureErrors(t *testing.T) {
	cases := []struct {
		with map[string]any
		want string
	}{
		{map[string]any{"path": "missing.csv"}, "csv: open testdata/missing.csv: no such file or directory"},
		{map[string]any{"path": "empty.csv"}, "csv: empty.csv: the file is empty: the first line must be the header"},
		{map[string]any{"path": "blank_only.csv"}, "csv: blank_only.csv: the file is empty"},
		{map[string]any{"path": "dup_header.csv"}, `csv: dup_header.csv:1: header row: column 3 is named "Name" like column 1: column names must be unique`},
		{map[string]any{"path": "empty_header.csv"}, "csv: empty_header.csv:1: header row: column 2 has no name"},
		{map[string]any{"path": "bad_header.csv"}, `csv: bad_header.csv:1: header row: field 2 is quoted but has text after its closing quote`},
		{map[string]any{"path": "plain.csv", "delimiter": ";;"}, `csv: delimiter ";;": want exactly one character`},
		{map[string]any{"path": "plain.csv", "delimiter": `"`}, `csv: delimiter "\"": a quote or a line break cannot be a delimiter`},
		{map[string]any{"path": "plain.csv", "comment": ","}, `csv: comment "," is also the delimiter`},
		{map[string]any{}, "csv: with.path is required"},
	}
	for _, tc := range cases {
		raw, _ := json.Marshal(tc.with)
		err := (&Block{}).Configure(context.Background(), sdk.Config{BlockID: "rows", With: raw, WorkflowDir: "testdata"})
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
	if d.Name != "csv" || d.Kind != sdk.KindSource {
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

// TestReadRecordTooLong: an unclosed quote in a big file would make
// encoding/csv buffer the rest of the file; the reader gives up on that
// record at maxRecordBytes and reads the rows below it again.
func TestReadRecordTooLong(t *testing.T) {
	path := filepath.Join(t.TempDir(), "long.csv")
	filler := strings.Repeat("x", 1000)
	var sb strings.Builder
	sb.WriteString("Name,Note,Amount\nAda,short,1\nZoe,\"never closed,2\n")
	rows := maxRecordBytes/len(filler) + 100
	for i := range rows {
		fmt.Fprintf(&sb, "Row%d,%s,%d\n", i, filler, i)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	b := configure(t, "", map[string]any{"path": path})
	items := readAll(t, b, 0)
	if len(items) != rows+2 {
		t.Fatalf("got %d items, want %d", len(items), rows+2)
	}
	if want := "long.csv:3: the record is longer than 8 MiB, probably because of a quote that is never closed; reading goes on at line 4"; items[1].Err != want {
		t.Errorf("error item:\n got %q\nwant %q", items[1].Err, want)
	}
	last := items[len(items)-1]
	if want := fmt.Sprintf("long.csv:%d", rows+3); last.Origin != want || last.Err != "" {
		t.Errorf("last item %s %q, want origin %s without error", last.Origin, last.Err, want)
	}
}
