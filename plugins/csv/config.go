package main

import (
	_ "embed"
	"fmt"
	"unicode/utf8"

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
	Path      string `json:"path"`
	Delimiter string `json:"delimiter"`
	Comment   string `json:"comment"`
}

// dialect is how a CSV file is written.
type dialect struct {
	comma   rune
	comment rune // 0: no comment lines
}

// dialect checks Delimiter and Comment and returns them as runes.
func (c config) dialect() (dialect, error) {
	d := dialect{comma: ','}
	if c.Delimiter != "" {
		r, err := oneRune("delimiter", c.Delimiter)
		if err != nil {
			return d, err
		}
		d.comma = r
	}
	if c.Comment != "" {
		r, err := oneRune("comment", c.Comment)
		if err != nil {
			return d, err
		}
		if r == d.comma {
			return d, fmt.Errorf("comment %q is also the delimiter: pick two different characters", c.Comment)
		}
		d.comment = r
	}
	return d, nil
}

// oneRune reads a one-character option. `\t` written out (as YAML leaves it
// in single quotes or plain style) means a tab.
func oneRune(key, s string) (rune, error) {
	if s == `\t` {
		return '\t', nil
	}
	r, size := utf8.DecodeRuneInString(s)
	if size != len(s) || r == utf8.RuneError {
		return 0, fmt.Errorf("%s %q: want exactly one character (use \"\\t\" for a tab)", key, s)
	}
	switch r {
	case '"', '\r', '\n':
		return 0, fmt.Errorf("%s %q: a quote or a line break cannot be a %s", key, s, key)
	}
	return r, nil
}
