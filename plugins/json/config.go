package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// configSchema is the JSON Schema of the block's `with:`.
var configSchema = json.RawMessage(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["path"],
  "properties": {
    "path": {
      "description": "The JSON file, relative to the workflow file: a top-level array of objects ([{...}, {...}]) or NDJSON (one object per line). Each object is one item; nested objects stay nested, so {{customer.name}} works.",
      "type": "string",
      "format": "file-path",
      "minLength": 1
    },
    "pointer": {
      "description": "JSON Pointer (RFC 6901) to the array of records inside a JSON document, e.g. /data/rows; ~1 stands for / and ~0 for ~ in a key. Without it the file itself is the array, or NDJSON.",
      "type": "string",
      "pattern": "^(/|$)"
    }
  }
}`)

// config is the block's `with:`.
type config struct {
	Path    string `json:"path"`
	Pointer string `json:"pointer"`
}

// parsePointer splits an RFC 6901 pointer into unescaped reference tokens;
// "" is the whole document.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("pointer %q must start with / (e.g. /data/rows)", p)
	}
	tokens := strings.Split(p[1:], "/")
	for i, t := range tokens {
		if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(t, "~0", ""), "~1", ""), "~") {
			return nil, fmt.Errorf("pointer %q: a ~ must be followed by 0 (for ~) or 1 (for /)", p)
		}
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens, nil
}
