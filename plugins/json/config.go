package main

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/paperflow/paperflow/plugins/sdk/manifest"
)

// blockJSON is the block's manifest: its name, kind, description and the
// JSON Schema of its `with:`.
//
//go:embed block.json
var blockJSON []byte

// descriptor is what Describe reports.
var descriptor = manifest.MustParse(blockJSON, version)

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
