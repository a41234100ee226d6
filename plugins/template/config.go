package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// configSchema is the JSON Schema of the block's `with:`.
var configSchema = json.RawMessage(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["template"],
  "properties": {
    "template": {
      "description": "The template, relative to the workflow file. Its kind follows from its extension: .md (Markdown, rendered to PDF), .docx (Word, filled and kept as .docx, optionally also converted to PDF) or .pdf (a fillable PDF form).",
      "type": "string",
      "format": "file-path",
      "minLength": 1
    },
    "name": {
      "description": "Name of the documents, with tags, e.g. \"Invoice {{Number}}\"; the extension is added. Path separators, \"..\" and control characters are removed. Default: the template's file name without extension.",
      "type": "string",
      "maxLength": 1000
    },
    "formats": {
      "description": "What to produce: [pdf] for Markdown and PDF forms; [docx] (default), [pdf] or [docx, pdf] for Word templates, where pdf needs LibreOffice (soffice) on PATH.",
      "type": "array",
      "items": {"enum": ["docx", "pdf"]},
      "minItems": 1,
      "uniqueItems": true
    },
    "password": {
      "description": "Encrypt the PDFs (AES-256) with this password, e.g. \"{{ .secrets.PDF_PASSWORD }}\"; a password that comes out empty for an item fails that item rather than writing an open file.",
      "type": "string",
      "maxLength": 127
    },
    "output_dir": {
      "description": "Also write each document into this folder, relative to the workflow file (created if missing).",
      "type": "string",
      "minLength": 1
    },
    "missing": {
      "description": "What a tag naming a field the item does not have does: \"error\" (default) fails the item, \"blank\" renders nothing. For a PDF form, \"error\" also fails an item with a field the form does not have.",
      "enum": ["error", "blank"],
      "default": "error"
    },
    "fields": {
      "description": "PDF forms only: the value of each form field, by the field's name, usually tags (\"Full name\": \"{{First Name}} {{Last Name}}\"). Without it, each form field takes the item field of the same name.",
      "type": "object",
      "additionalProperties": {"type": ["string", "number", "boolean"]}
    },
    "flatten": {
      "description": "PDF forms only: draw the filled values into the page and remove the form fields, so the result can no longer be edited.",
      "type": "boolean",
      "default": false
    }
  }
}`)

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
