package events

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// maxDecodeDepth is how deeply nested a value decodeJSON decodes before it
// leaves the event to encoding/json; events are a few levels deep.
const maxDecodeDepth = 512

// decodeJSON decodes data into what json.Unmarshal into an any makes of
// it — maps, []any, strings, float64, bools and nil — in one pass, where
// encoding/json first scans the whole input and then decodes it. It reports
// false, and the caller uses json.Unmarshal, for anything but well-formed
// JSON it is sure to decode identically: a syntax error, a number out of
// float64's range, nesting deeper than maxDecodeDepth. A string with escapes
// or invalid UTF-8 is decoded by encoding/json itself. keys are strings to
// reuse rather than allocate when a decoded string equals one (the schemas'
// property names and constants).
func decodeJSON(data []byte, keys map[string]string) (any, bool) {
	d := decoder{data: data, keys: keys}
	v, ok := d.value(0)
	if !ok {
		return nil, false
	}
	d.skipSpace()
	return v, d.pos == len(d.data)
}

type decoder struct {
	data []byte
	pos  int
	keys map[string]string
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (any, bool) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return nil, false
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		return d.string()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return d.number()
	}
	return nil, false
}

func (d *decoder) literal(word string) bool {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return false
	}
	d.pos += len(word)
	return true
}

func (d *decoder) object(depth int) (any, bool) {
	if depth > maxDecodeDepth {
		return nil, false
	}
	d.pos++ // {
	m := make(map[string]any)
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return m, true
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, false
		}
		k, ok := d.string()
		if !ok {
			return nil, false
		}
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, false
		}
		d.pos++
		v, ok := d.value(depth)
		if !ok {
			return nil, false
		}
		// As with encoding/json, the last of repeated keys wins.
		m[k.(string)] = v
		end, ok := d.separator('}')
		if !ok {
			return nil, false
		}
		if end {
			return m, true
		}
	}
}

// separator reads what follows a member of an object or array: a comma
// (end false) or the closing byte (end true); ok is false for anything
// else.
func (d *decoder) separator(closing byte) (end, ok bool) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return false, false
	}
	switch d.data[d.pos] {
	case ',':
		d.pos++
		return false, true
	case closing:
		d.pos++
		return true, true
	}
	return false, false
}

func (d *decoder) array(depth int) (any, bool) {
	if depth > maxDecodeDepth {
		return nil, false
	}
	d.pos++ // [
	list := make([]any, 0)
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return list, true
	}
	for {
		v, ok := d.value(depth)
		if !ok {
			return nil, false
		}
		list = append(list, v)
		end, ok := d.separator(']')
		if !ok {
			return nil, false
		}
		if end {
			return list, true
		}
	}
}

// string decodes the string starting at d.pos, its opening quote.
func (d *decoder) string() (any, bool) {
	start := d.pos
	escaped, ascii := false, true
	i := start + 1
	for ; i < len(d.data); i++ {
		c := d.data[i]
		if c == '"' {
			break
		}
		if c < 0x20 {
			return nil, false
		}
		if c == '\\' {
			escaped = true
			i++ // the escaped byte cannot end the string
		} else if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if i >= len(d.data) {
		return nil, false
	}
	d.pos = i + 1
	body := d.data[start+1 : i]
	if !escaped && (ascii || utf8.Valid(body)) {
		if k, ok := d.keys[string(body)]; ok {
			return k, true
		}
		return string(body), true
	}
	var s string
	if json.Unmarshal(d.data[start:d.pos], &s) != nil {
		return nil, false
	}
	return s, true
}

// number decodes a number as JSON writes it, into a float64 as
// encoding/json does (strconv.ParseFloat).
func (d *decoder) number() (any, bool) {
	start := d.pos
	if d.data[d.pos] == '-' {
		d.pos++
	}
	switch {
	case d.pos < len(d.data) && d.data[d.pos] == '0':
		d.pos++
	case d.digits() == 0:
		return nil, false
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if d.digits() == 0 {
			return nil, false
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if d.digits() == 0 {
			return nil, false
		}
	}
	f, err := strconv.ParseFloat(string(d.data[start:d.pos]), 64)
	if err != nil {
		return nil, false
	}
	return f, true
}

func (d *decoder) digits() int {
	n := 0
	for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
		d.pos++
		n++
	}
	return n
}
