package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/paperflow/paperflow/plugins/internal/recordfile"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// version is reported by Describe.
const version = "0.1.0"

// Block is the json source. Configure checks the file (and the pointer);
// Read streams the records as items, one batch at a time.
type Block struct {
	path    string // resolved against the workflow's directory
	name    string // the file's base name, for origins
	pointer []string
}

var _ sdk.Source = (*Block)(nil)

// Describe implements sdk.Block: block.json and version.
func (*Block) Describe() sdk.Descriptor { return descriptor }

// Configure implements sdk.Block: it checks that the file opens, what it
// holds and, with a pointer, that the pointer reaches an array.
func (b *Block) Configure(_ context.Context, c sdk.Config) error {
	var cfg config
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	path, err := recordfile.Path(c, "json", cfg.Path, "the JSON or NDJSON file")
	if err != nil {
		return err
	}
	pointer, err := parsePointer(cfg.Pointer)
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	r, err := openRecords(path, pointer)
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	defer r.Close()
	if nd, ok := r.(*ndjsonReader); ok {
		if err := checkNotDocument(path, nd); err != nil {
			return fmt.Errorf("json: %w", err)
		}
	}
	b.path, b.name, b.pointer = path, filepath.Base(path), pointer
	return nil
}

// checkNotDocument catches a pretty-printed JSON document taken for NDJSON
// because it starts with "{": its first line is not a whole object, and
// reading it line by line would give an error for every line.
func checkNotDocument(path string, nd *ndjsonReader) error {
	rec, err := nd.next()
	if err != nil || rec.err == "" {
		return nil // an empty file, or a good first line: NDJSON it is
	}
	f, err := recordfile.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	in := &trackingReader{Bounded: recordfile.Bounded{R: f.In}}
	dec := json.NewDecoder(in)
	arrays, err := arrayMembers(dec)
	if err != nil {
		return nil // not one document either: a broken line, reported per item
	}
	last := in.lineAt(dec.InputOffset() - 1)
	if last == rec.line {
		return nil
	}
	hint := "the array of records in it"
	if len(arrays) > 0 {
		hint = strings.Join(arrays, " or ")
	}
	return fmt.Errorf("%s:%d: this is one JSON document over lines %d-%d, not NDJSON (one object per line): set pointer to %s",
		nd.name, rec.line, rec.line, last, hint)
}

// arrayMembers reads one JSON object token by token and returns pointers to
// its members that are arrays.
func arrayMembers(dec *json.Decoder) ([]string, error) {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	var arrays []string
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, err
		}
		depth := 0
		for first := true; first || depth > 0; first = false {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			switch tok {
			case json.Delim('['):
				if first {
					arrays = append(arrays, "/"+escapeToken(fmt.Sprint(key)))
				}
				depth++
			case json.Delim('{'):
				depth++
			case json.Delim(']'), json.Delim('}'):
				depth--
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return arrays, nil
}

// Read implements sdk.Source.
func (b *Block) Read(ctx context.Context, req sdk.ReadRequest, emit func([]sdk.Item) error) error {
	if b.path == "" {
		return errors.New("json: Read before Configure")
	}
	r, err := openRecords(b.path, b.pointer)
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	defer r.Close()
	return sdk.ReadEach(ctx, req, emit, r.next, b.item)
}

// item makes a record into a source item. The record is already the JSON
// object the item's fields are, numbers as written, nesting kept.
func (b *Block) item(rec record) (sdk.Item, error) {
	return recordfile.Item(b.name, rec.line, rec.err, func(origin string) (sdk.Item, error) {
		return sdk.Item{Origin: origin, RawFields: rec.raw}, nil
	})
}
