// Package jsonvalue reads and writes values decoded from JSON (maps, lists
// and leaves as encoding/json produces them into an any), so that the host
// and blocks follow a path and encode a value the same way.
package jsonvalue

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// At returns the value at path inside v: each segment is an object key, or
// an index into a list. Keys match exactly; a missing key, an index out of
// range or a leaf before the path ends reports false.
func At(v any, path []string) (any, bool) {
	for _, seg := range path {
		switch x := v.(type) {
		case map[string]any:
			next, ok := x[seg]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// Marshal is json.Marshal without HTML escaping: request bodies, events and
// reports carry values such as "<abc@host>" or "a & b" that their readers
// should see as written, not as \u003c and \u0026.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
