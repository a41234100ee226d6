package main

import (
	_ "embed"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/paperflow/paperflow/plugins/sdk/manifest"
)

// blockJSON is the block's manifest: its name, kind, description, events
// and the JSON Schema of its `with:`.
//
//go:embed block.json
var blockJSON []byte

// descriptor is what Describe reports.
var descriptor = manifest.MustParse(blockJSON, version)

// config is the block's `with:`.
type config struct {
	Template  string         `json:"template"`
	Name      string         `json:"name"`
	Formats   []string       `json:"formats"`
	Password  string         `json:"password"`
	OutputDir string         `json:"output_dir"`
	Missing   string         `json:"missing"`
	Fields    map[string]any `json:"fields"`
	Flatten   bool           `json:"flatten"`
}

// itemConfig is the part of `with:` that may differ per item: the host
// resolves its tags for each item.
type itemConfig struct {
	Name     string         `json:"name"`
	Password string         `json:"password"`
	Fields   map[string]any `json:"fields"`
}

// maxNameBytes bounds a document name (without extension); file systems
// allow 255 bytes for a whole name.
const maxNameBytes = 150

// cleanName makes a rendered name safe as a file name: no path separators,
// no "..", no control or format characters, no leading or trailing dots
// and spaces, at most maxNameBytes bytes. It returns fallback when nothing
// is left.
func cleanName(name, fallback string) string {
	var b strings.Builder
	space := false
	for _, r := range name {
		switch {
		case r == '/' || r == '\\' || r == ':' || r == '*' || r == '?' || r == '"' || r == '<' || r == '>' || r == '|':
			r = '-'
		case unicode.IsSpace(r):
			r = ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError:
			continue
		}
		if r == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteRune(r)
	}
	s := b.String()
	for strings.Contains(s, "..") {
		s = strings.ReplaceAll(s, "..", ".")
	}
	s = strings.Trim(s, " .-")
	if len(s) > maxNameBytes {
		cut := maxNameBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimRight(s[:cut], " .-")
	}
	if s == "" {
		return fallback
	}
	if reservedOnWindows(s) {
		s += "_"
	}
	return s
}

// reservedOnWindows reports names Windows will not create, so a document
// copied there keeps working.
func reservedOnWindows(s string) bool {
	base, _, _ := strings.Cut(strings.ToUpper(s), ".")
	switch base {
	case "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
		"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
		return true
	}
	return false
}

// stripExt drops an extension the name pattern already carries, so
// "Invoice 7.pdf" does not become "Invoice 7.pdf.pdf".
func stripExt(name string) string {
	for _, ext := range []string{".pdf", ".docx"} {
		if len(name) > len(ext) && strings.EqualFold(name[len(name)-len(ext):], ext) {
			return name[:len(name)-len(ext)]
		}
	}
	return name
}

// formatsFor checks the formats asked for against what a template kind can
// make, and fills in the default.
func formatsFor(k templateKind, asked []string) ([]string, error) {
	if len(asked) == 0 {
		if k == kindDocx {
			return []string{"docx"}, nil
		}
		return []string{"pdf"}, nil
	}
	for _, f := range asked {
		if f == "docx" && k != kindDocx {
			return nil, fmt.Errorf("formats: docx needs a .docx template; a %s template makes PDF only", k)
		}
		if f != "docx" && f != "pdf" {
			return nil, fmt.Errorf("formats: %q is not a format; use docx or pdf", f)
		}
	}
	return asked, nil
}
