package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/paperflow/paperflow/plugins/internal/recordfile"
)

// maxRecordBytes bounds one record, so that an unclosed string or bracket
// cannot make the reader buffer the rest of a huge file.
const maxRecordBytes = recordfile.MaxRecordBytes

// record is one JSON object read from the file, or what is wrong with it.
type record struct {
	line int    // line where the record starts, from 1
	raw  []byte // the object, compacted
	err  string // what is wrong, without the "file:line: " prefix
}

// records reads a file record by record.
type records interface {
	// next returns the next record, io.EOF after the last one, or an I/O
	// error. A malformed record is a record with err set.
	next() (record, error)
	Close() error
}

// openRecords opens a JSON file as a stream of records: the array at
// pointer when there is one, else a top-level array or NDJSON, told apart
// by the first byte that is not a space.
func openRecords(path string, pointer []string) (records, error) {
	first, err := sniff(path)
	if err != nil {
		return nil, err
	}
	f, err := recordfile.Open(path)
	if err != nil {
		return nil, err
	}
	var r records
	switch {
	case pointer != nil:
		r, err = newArrayReader(f, pointer)
	case first == '[':
		r, err = newArrayReader(f, nil)
	case first == '{' || first == 0:
		r = &ndjsonReader{f: f, name: f.Name}
	default:
		err = fmt.Errorf("%s: the file starts with %q: want a JSON array of objects ([{...}, ...]) or NDJSON (one {...} per line)", f.Name, first)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// sniff returns the first byte of the file that is not a space (after a
// BOM: JSON has none, but editors on Windows like to add one), or 0 for a
// file of spaces.
func sniff(path string) (byte, error) {
	f, err := recordfile.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	for {
		c, err := f.In.ReadByte()
		if err == io.EOF {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c, nil
	}
}

// objectRecord makes valid, compact JSON into a record: an error record
// unless it is an object in valid UTF-8. what names it in messages.
func objectRecord(line int, compacted []byte, what string) record {
	if compacted[0] != '{' {
		return record{line: line, err: fmt.Sprintf("%s is %s, not an object: each record must be a {...} object", what, kindOf(compacted[0]))}
	}
	if !utf8.Valid(compacted) {
		return record{line: line, err: fmt.Sprintf("%s is not valid UTF-8: save the file as UTF-8", what)}
	}
	return record{line: line, raw: compacted}
}

// compact returns a compacted copy of JSON text.
func compact(text []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(text))
	if err := json.Compact(&buf, text); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// kindOf names a JSON value by its first byte.
func kindOf(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
