package send

import (
	"bytes"
	"encoding/json"
	"mime"
	"strings"
)

// jsonEscape escapes s for the inside of a JSON string, so that a value a
// tag inserts into a JSON body between quotes stays one string whatever it
// holds (quotes, backslashes, line breaks).
func jsonEscape(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return string(out[1 : len(out)-1])
}

// isJSON reports whether a Content-Type names JSON (application/json or a
// +json type).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
