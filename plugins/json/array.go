package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/paperflow/paperflow/plugins/internal/recordfile"
)

// arrayReader streams the elements of a JSON array with json.Decoder, one
// element in memory at a time. The array is the whole file or, with a
// pointer, a value inside a document.
//
// A syntax error inside the array ends the reading: json.Decoder's errors
// are final, and in a broken array there is no telling where the next
// element begins. It becomes one error record, and the stream ends.
type arrayReader struct {
	f    *recordfile.File
	name string
	in   *trackingReader
	dec  *json.Decoder
	// topLevel: the array is the whole file, so nothing may follow it.
	topLevel bool
	index    int // elements read so far
	done     bool
}

func newArrayReader(f *recordfile.File, pointer []string) (*arrayReader, error) {
	in := &trackingReader{Bounded: recordfile.Bounded{R: f.In}}
	dec := json.NewDecoder(in)
	dec.UseNumber()
	a := &arrayReader{f: f, name: f.Name, in: in, dec: dec, topLevel: pointer == nil}
	if err := a.descend(pointer); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *arrayReader) Close() error { return a.f.Close() }

// descend walks the pointer from the document's root and consumes the
// opening bracket of the array it names. Values on the way are skipped
// token by token, never held in memory whole.
func (a *arrayReader) descend(pointer []string) error {
	at := ""
	for _, key := range pointer {
		tok, err := a.token()
		if err != nil {
			return a.fileError("reading "+orRoot(at), err)
		}
		switch tok {
		case json.Delim('{'):
			if err := a.findKey(key, at); err != nil {
				return err
			}
		case json.Delim('['):
			if err := a.findIndex(key, at); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s:%d: pointer: %s is %s, so it has no %q in it", a.name, a.line(), orRoot(at), kindOfToken(tok), key)
		}
		at += "/" + escapeToken(key)
	}
	tok, err := a.token()
	if err != nil {
		return a.fileError("reading "+orRoot(at), err)
	}
	if tok != json.Delim('[') {
		if at == "" {
			return fmt.Errorf("%s:%d: the document is %s: want an array of objects, or set pointer to the array inside it", a.name, a.line(), kindOfToken(tok))
		}
		return fmt.Errorf("%s:%d: pointer %s is %s, not an array of records", a.name, a.line(), at, kindOfToken(tok))
	}
	return nil
}

// findKey reads the members of an object up to key; the decoder is then
// at key's value.
func (a *arrayReader) findKey(key, at string) error {
	for a.dec.More() {
		tok, err := a.token()
		if err != nil {
			return a.fileError("reading "+orRoot(at), err)
		}
		if name, ok := tok.(string); ok && name == key {
			return nil
		}
		if err := a.skipValue(); err != nil {
			return a.fileError("reading "+orRoot(at), err)
		}
	}
	return fmt.Errorf("%s:%d: pointer: the object at %s has no key %q", a.name, a.line(), orRoot(at), key)
}

// findIndex skips the elements of an array up to the index in key.
func (a *arrayReader) findIndex(key, at string) error {
	n, err := strconv.Atoi(key)
	if err != nil || n < 0 || (len(key) > 1 && key[0] == '0') {
		return fmt.Errorf("%s:%d: pointer: %s is an array, and %q is not an index in it (0, 1, 2, ...)", a.name, a.line(), orRoot(at), key)
	}
	for i := 0; i <= n; i++ {
		if !a.dec.More() {
			return fmt.Errorf("%s:%d: pointer: the array at %s has %d elements, so no index %d", a.name, a.line(), orRoot(at), i, n)
		}
		if i == n {
			return nil
		}
		if err := a.skipValue(); err != nil {
			return a.fileError("reading "+orRoot(at), err)
		}
	}
	return nil
}

// skipValue consumes one value, token by token.
func (a *arrayReader) skipValue() error {
	depth := 0
	for {
		tok, err := a.token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// token reads one token, bounded by maxRecordBytes, and lets the line
// tracker forget the line breaks behind it.
func (a *arrayReader) token() (json.Token, error) {
	a.in.Limit = a.dec.InputOffset() + maxRecordBytes
	tok, err := a.dec.Token()
	a.in.lineAt(a.dec.InputOffset())
	return tok, err
}

// next implements records.
func (a *arrayReader) next() (record, error) {
	if a.done {
		return record{}, io.EOF
	}
	if !a.dec.More() {
		a.done = true
		return a.end()
	}
	a.in.Limit = a.dec.InputOffset() + maxRecordBytes
	var raw json.RawMessage
	if err := a.dec.Decode(&raw); err != nil {
		a.done = true
		return a.brokenElement(err)
	}
	a.index++
	// raw is exactly the element's text and the decoder stops right after
	// it, so the element starts len(raw) bytes back.
	line := a.in.lineAt(a.dec.InputOffset() - int64(len(raw)))
	what := fmt.Sprintf("array element %d", a.index)
	obj, err := compact(raw)
	if err != nil { // the decoder has checked it; this is not expected
		return record{line: line, err: fmt.Sprintf("%s is not valid JSON: %v", what, err)}, nil
	}
	return objectRecord(line, obj, what), nil
}

// end reads the closing bracket, and for a top-level array checks that
// nothing but spaces follows. A problem is one last error record.
func (a *arrayReader) end() (record, error) {
	tok, err := a.token()
	if err != nil || tok != json.Delim(']') {
		line := a.line()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return record{line: line, err: fmt.Sprintf("the file ends inside the array, after element %d: is it cut short? (a ] is missing)", a.index)}, nil
		}
		return record{line: line, err: fmt.Sprintf("the array is broken after element %d: %v; the rest of the file cannot be read", a.index, describe(err, tok))}, nil
	}
	if !a.topLevel {
		return record{}, io.EOF // the rest of the document is not ours to check
	}
	tok, err = a.token()
	if err == io.EOF {
		return record{}, io.EOF
	}
	return record{line: a.line(), err: fmt.Sprintf("more data after the array's closing ] (%s): the file must hold one array", describe(err, tok))}, nil
}

// brokenElement is the error record for an element the decoder could not
// read; the stream ends after it.
func (a *arrayReader) brokenElement(err error) (record, error) {
	n := a.index + 1
	line := a.elementLine()
	switch {
	case errors.Is(err, recordfile.ErrRecordTooLong):
		return record{line: line, err: fmt.Sprintf("array element %d is longer than %d MiB or never ends (an unclosed string or bracket?); the rest of the file cannot be read",
			n, maxRecordBytes>>20)}, nil
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return record{line: line, err: fmt.Sprintf("the file ends inside array element %d: is it cut short?", n)}, nil
	}
	var syntax *json.SyntaxError
	if !errors.As(err, &syntax) {
		return record{}, fmt.Errorf("%s: read: %w", a.name, err)
	}
	return record{line: line, err: fmt.Sprintf("array element %d is not valid JSON (%v); the rest of the file cannot be read", n, err)}, nil
}

// elementLine is the line where the element the decoder stopped at
// begins: past the spaces and the comma after the previous element.
func (a *arrayReader) elementLine() int {
	line := a.line()
	buffered, _ := io.ReadAll(a.dec.Buffered())
	comma := false
	for _, c := range buffered {
		switch {
		case c == '\n':
			line++
		case c == ' ' || c == '\t' || c == '\r':
		case c == ',' && !comma:
			comma = true
		default:
			return line
		}
	}
	return line
}

// line is the line of the decoder's position.
func (a *arrayReader) line() int { return a.in.lineAt(a.dec.InputOffset()) }

// fileError is a file-level error met while walking the pointer.
func (a *arrayReader) fileError(what string, err error) error {
	if errors.Is(err, recordfile.ErrRecordTooLong) {
		err = fmt.Errorf("a value longer than %d MiB (an unclosed string?)", maxRecordBytes>>20)
	} else if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%s:%d: %s: %w", a.name, a.line(), what, err)
}

// describe names what the decoder found: its error, or the token.
func describe(err error, tok json.Token) string {
	if err != nil {
		return err.Error()
	}
	return kindOfToken(tok)
}

func kindOfToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return fmt.Sprintf("%q", string(t))
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

func orRoot(at string) string {
	if at == "" {
		return "the document's root"
	}
	return at
}

func escapeToken(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}
