package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// fuzzDialects are the ways of writing a file the fuzzer picks from: the
// usual delimiters, comment lines, and a delimiter of two bytes.
var fuzzDialects = []dialect{
	{comma: ','},
	{comma: ';', comment: '#'},
	{comma: '\t'},
	{comma: '|', comment: '#'},
	{comma: 'é'},
	{comma: ',', comment: ';'},
}

// fuzzRecordLimits replace maxRecordBytes, so that short inputs reach the
// bound and the rereading that follows it.
var fuzzRecordLimits = []int64{48, 4096}

// csvReadAhead is how far encoding/csv reads past the start of a record
// (its buffer): a record can pass the bound by that much before the bound
// stops it.
const csvReadAhead = 4096

// FuzzRecords reads a header and arbitrary bytes below it, followed by a
// good row, the sentinel. Whatever the bytes, reading ends, every malformed
// record becomes an item whose error starts with file:line, good items have
// one valid UTF-8 value per column, records come in the order of their
// lines, and the sentinel always comes through as the last item, on its
// own line: a broken row must never take the good rows after it along.
// Seeds are in testdata/fuzz/FuzzRecords.
func FuzzRecords(f *testing.F) {
	f.Add("Name,Email", []byte("Ada,ada@example.com\n\"Bob\nBobson\",bob@example.com\n"), uint8(0))
	path := filepath.Join(f.TempDir(), "rows.csv")
	f.Fuzz(func(t *testing.T, header string, body []byte, mode uint8) {
		d := fuzzDialects[int(mode)%len(fuzzDialects)]
		limit := fuzzRecordLimits[int(mode)/len(fuzzDialects)%len(fuzzRecordLimits)]

		// The header alone: a bad one is refused with the file's name.
		writeText(t, path, header+"\n")
		probe, err := openRecordsWithin(path, d, limit)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "rows.csv:") {
				t.Fatalf("header error does not name the file: %v", err)
			}
			return
		}
		header0 := probe.header
		probe.Close()

		// A value of one character per column is never longer than the
		// header, so the sentinel is within the bound whenever the header is.
		sep := string(d.comma)
		sentinel := strings.TrimSuffix(strings.Repeat("s"+sep, len(header0)), sep)
		text := header + "\n" + string(body) + "\n"
		sentinelLine := strings.Count(text, "\n") + 1
		text += sentinel + "\n"
		writeText(t, path, text)

		r, err := openRecordsWithin(path, d, limit)
		if err != nil {
			t.Fatalf("the header read alone, but not above rows: %v", err)
		}
		defer r.Close()
		if strings.Join(r.header, "\x00") != strings.Join(header0, "\x00") {
			t.Fatalf("header %q read alone, %q above rows", header0, r.header)
		}
		lines := strings.Count(text, "\n") + 1
		last, prevLine := record{}, 0
		for n := 0; ; n++ {
			if n > lines {
				t.Fatalf("more records than the file's %d lines: reading does not end", lines)
			}
			rec, err := r.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if rec.line <= prevLine || rec.line > lines {
				t.Fatalf("record at line %d after one at line %d, in a file of %d lines", rec.line, prevLine, lines)
			}
			prevLine = rec.line
			checkItem(t, r, rec, limit)
			last = rec
		}
		if last.err != "" || last.line != sentinelLine || strings.Join(last.fields, sep) != sentinel {
			t.Fatalf("the last record is %+v, want the sentinel %q at line %d", last, sentinel, sentinelLine)
		}
	})
}

// checkItem checks the item made of rec: an error naming file and line, or
// one bounded, valid UTF-8 value without NUL per column.
func checkItem(t *testing.T, r *recordReader, rec record, limit int64) {
	t.Helper()
	it, err := r.item(rec)
	if err != nil {
		t.Fatalf("item of %+v: %v", rec, err)
	}
	origin := "rows.csv:" + strconv.Itoa(rec.line)
	if it.Origin != origin {
		t.Fatalf("origin %q, want %q", it.Origin, origin)
	}
	if rec.err != "" {
		if !strings.HasPrefix(it.Err, origin+": ") || len(it.Err) == len(origin)+2 {
			t.Fatalf("error %q does not start with %q and say what is wrong", it.Err, origin+": ")
		}
		return
	}
	var fields map[string]string
	if err := json.Unmarshal(it.RawFields, &fields); err != nil {
		t.Fatalf("fields %s: %v", it.RawFields, err)
	}
	if len(fields) != len(r.header) {
		t.Fatalf("%d fields for %d columns: %s", len(fields), len(r.header), it.RawFields)
	}
	size := 0
	for _, v := range rec.fields {
		size += len(v)
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			t.Fatalf("value %q passed as text", v)
		}
	}
	if int64(size) > limit+csvReadAhead {
		t.Fatalf("a record of %d bytes passed the bound of %d", size, limit)
	}
}

func writeText(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReadNotText checks the messages for bytes that are not UTF-8 text: a
// row with them fails alone, a header with them fails the file.
func TestReadNotText(t *testing.T) {
	cases := []struct {
		name, file string
		want       []string // items as render writes them, or the Configure error
	}{
		{"NUL in a row", "Name,Email\nAda,a\x00b\nBob,bob@example.com\n", []string{
			`rows.csv:2 ERROR rows.csv:2: field 2 ("Email") has a NUL byte, which text never has: save the file as UTF-8 text`,
			`rows.csv:3 {"Email":"bob@example.com","Name":"Bob"}`,
		}},
		{"invalid UTF-8 in a row", "Name,Email\nCaf\xe9,x\nBob,y\n", []string{
			`rows.csv:2 ERROR rows.csv:2: field 1 ("Name") is not valid UTF-8: save the file as UTF-8`,
			`rows.csv:3 {"Email":"y","Name":"Bob"}`,
		}},
		{"NUL in the header", "Na\x00me,Email\n", []string{"csv: rows.csv:1: header row: field 1 has a NUL byte"}},
		{"UTF-16", "\xff\xfeN\x00a\x00m\x00e\x00\n\x00", []string{"csv: rows.csv: the file is UTF-16 (it starts with a byte order mark): save it as UTF-8"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeText(t, filepath.Join(dir, "rows.csv"), tc.file)
			raw, _ := json.Marshal(map[string]any{"path": "rows.csv"})
			b := &Block{}
			if err := b.Configure(context.Background(), sdk.Config{BlockID: "rows", With: raw, WorkflowDir: dir}); err != nil {
				if len(tc.want) != 1 || !strings.HasPrefix(err.Error(), tc.want[0]) {
					t.Fatalf("configure: %v\nwant items %q", err, tc.want)
				}
				return
			}
			if got := render(readAll(t, b, 0)); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestReadBoundCutsLine checks a line that the bound on a record cuts just
// after a stray quote: it is one too-long record, and the rows below keep
// their line numbers.
func TestReadBoundCutsLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rows.csv")
	writeText(t, path, "Name,Email\n"+strings.Repeat("x", 47)+"\"\nBob,bob@example.com\n")
	r, err := openRecordsWithin(path, dialect{comma: ','}, 48)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := []string{
		"2: the record is longer than 48 bytes, probably because of a quote that is never closed; reading goes on at line 3",
		"3: Bob|bob@example.com",
	}
	var got []string
	for {
		rec, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.err != "" {
			got = append(got, strconv.Itoa(rec.line)+": "+rec.err)
		} else {
			got = append(got, strconv.Itoa(rec.line)+": "+strings.Join(rec.fields, "|"))
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
