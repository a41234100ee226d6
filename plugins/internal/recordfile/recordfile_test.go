package recordfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
)

func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		start         int64
		rest, err     string
	}{
		{"plain", "a,b\n", 0, "a,b\n", ""},
		{"utf-8 mark", "\xEF\xBB\xBFa,b\n", 3, "a,b\n", ""},
		{"empty", "", 0, "", ""},
		{"utf-16 little endian", "\xFF\xFEa\x00", 0, "", "rows.txt: the file is UTF-16 (it starts with a byte order mark): save it as UTF-8"},
		{"utf-16 big endian", "\xFE\xFF\x00a", 0, "", "rows.txt: the file is UTF-16 (it starts with a byte order mark): save it as UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rows.txt")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("Open: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rest, _ := io.ReadAll(f.In)
			if f.Name != "rows.txt" || f.Start != tc.start || string(rest) != tc.rest {
				t.Errorf("name %q, start %d, rest %q; want rows.txt, %d, %q", f.Name, f.Start, rest, tc.start, tc.rest)
			}
			if err := f.Reread(f.Start); err != nil {
				t.Fatal(err)
			}
			if again, _ := io.ReadAll(f.In); string(again) != tc.rest {
				t.Errorf("after Reread: %q, want %q", again, tc.rest)
			}
		})
	}
}

func TestBounded(t *testing.T) {
	b := &Bounded{R: strings.NewReader("0123456789"), Limit: 4}
	got, err := io.ReadAll(b)
	if string(got) != "0123" || !errors.Is(err, ErrRecordTooLong) || !b.Tripped || b.Pos != 4 {
		t.Fatalf("read %q, %v, tripped %v, pos %d; want 0123, ErrRecordTooLong, true, 4", got, err, b.Tripped, b.Pos)
	}
	b.Limit, b.Tripped = 0, false
	if rest, err := io.ReadAll(b); string(rest) != "456789" || err != nil || b.Tripped {
		t.Errorf("without a limit: %q, %v, tripped %v", rest, err, b.Tripped)
	}
}

func TestItemAndPath(t *testing.T) {
	ok := func(origin string) (sdk.Item, error) { return sdk.Item{Origin: origin, ID: "made"}, nil }
	if it, _ := Item("rows.csv", 12, "", ok); it.Origin != "rows.csv:12" || it.ID != "made" || it.Err != "" {
		t.Errorf("good record: %+v", it)
	}
	if it, _ := Item("rows.csv", 3, "row has 2 columns", ok); it.Origin != "rows.csv:3" || it.Err != "rows.csv:3: row has 2 columns" || it.ID != "" {
		t.Errorf("bad record: %+v", it)
	}
	c := sdk.Config{WorkflowDir: "/flows"}
	if p, err := Path(c, "csv", "data/rows.csv", "the CSV file"); p != "/flows/data/rows.csv" || err != nil {
		t.Errorf("Path: %q, %v", p, err)
	}
	if _, err := Path(c, "csv", "", "the CSV file"); err == nil || err.Error() != "csv: with.path is required: the CSV file to read, relative to the workflow file" {
		t.Errorf("no path: %v", err)
	}
}
