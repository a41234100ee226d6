package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/signature/pdfview"
)

// fieldConfig is one entry of a recipient's `fields:`.
type fieldConfig struct {
	Type       string   `json:"type"`
	Name       string   `json:"name"`
	Label      string   `json:"label"`
	Required   *bool    `json:"required"`
	Anchor     string   `json:"anchor"`
	Occurrence int      `json:"occurrence"`
	OffsetX    float64  `json:"offset_x"`
	OffsetY    float64  `json:"offset_y"`
	Document   int      `json:"document"`
	Page       int      `json:"page"`
	X          *float64 `json:"x"`
	Y          *float64 `json:"y"`
	Width      float64  `json:"width"`
	Height     float64  `json:"height"`
}

// Field types.
const (
	fieldSignature = "signature"
	fieldInitials  = "initials"
	fieldDate      = "date"
	fieldName      = "name"
	fieldText      = "text"
	fieldCheckbox  = "checkbox"
)

// fieldDefaults are each type's label and size in points.
var fieldDefaults = map[string]struct {
	label string
	w, h  float64
}{
	fieldSignature: {"Signature", 150, 40},
	fieldInitials:  {"Initials", 60, 30},
	fieldDate:      {"Date", 100, 18},
	fieldName:      {"Full name", 150, 18},
	fieldText:      {"Text", 150, 18},
	fieldCheckbox:  {"Tick", 14, 14},
}

// field is a recipient's field as kept in the request: where it is, on
// every place it appears.
type field struct {
	Recipient int     `json:"recipient"`
	Name      string  `json:"name"`
	Type      string  `json:"type"`
	Label     string  `json:"label"`
	Required  bool    `json:"required,omitempty"`
	Places    []place `json:"places"`
}

// place is one box of a field on a page of a document.
type place struct {
	Doc  int     `json:"doc"`  // index into request.Documents
	Page int     `json:"page"` // from 1
	X    float64 `json:"x"`
	Y    float64 `json:"y"`
	W    float64 `json:"w"`
	H    float64 `json:"h"`
}

var fieldNameShape = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// checkFields checks what the schema cannot: names unique per recipient
// and usable. where is "recipients[i]".
func checkFields(where string, fcs []fieldConfig) error {
	seen := map[string]bool{}
	for j, fc := range fcs {
		at := fmt.Sprintf("%s.fields[%d]", where, j)
		if _, ok := fieldDefaults[fc.Type]; !ok {
			return fmt.Errorf("%s.type %q: want one of signature, initials, date, name, text, checkbox", at, fc.Type)
		}
		if (fc.Anchor == "") == (fc.Page == 0) {
			return fmt.Errorf("%s: give either anchor (text in the PDF) or page, x and y", at)
		}
		if fc.Page > 0 && (fc.X == nil || fc.Y == nil) {
			return fmt.Errorf("%s: page needs x and y (points from the top-left corner)", at)
		}
		name := fieldNameFor(fcs, j)
		if !fieldNameShape.MatchString(name) {
			return fmt.Errorf("%s.name %q: use letters, digits, _ and -, starting with a letter", at, name)
		}
		if seen[name] {
			return fmt.Errorf("%s.name %q is used twice for this recipient", at, name)
		}
		seen[name] = true
	}
	return nil
}

// fieldNameFor is the name of fcs[j]: its own, or its type numbered by
// how many fields of that type come before it.
func fieldNameFor(fcs []fieldConfig, j int) string {
	if fcs[j].Name != "" {
		return fcs[j].Name
	}
	n := 1
	for _, fc := range fcs[:j] {
		if fc.Type == fcs[j].Type && fc.Name == "" {
			n++
		}
	}
	if n == 1 {
		return fcs[j].Type
	}
	return fcs[j].Type + "_" + strconv.Itoa(n)
}

// errAnchor is an anchor that is in none of the documents: the item
// fails, since retrying cannot help.
var errAnchor = errors.New("anchor not found")

// placeFields finds where each recipient's fields go in docs: it reads the
// page sizes of every document (kept for the signing page) and the
// positions of the anchors.
func (b *Block) placeFields(ctx context.Context, signers []signer, docs []document, data [][]byte) ([]field, error) {
	var anchors []string
	for _, s := range signers {
		for _, fc := range s.Fields {
			if fc.Anchor != "" {
				anchors = append(anchors, fc.Anchor)
			}
		}
	}
	layouts := make([]pdfview.Layout, len(docs))
	for i := range docs {
		start := time.Now()
		l, err := pdfview.Inspect(ctx, data[i], anchors)
		if errors.Is(err, pdfview.ErrUnreadable) {
			return nil, fmt.Errorf("documents: %q cannot be read as a PDF: %w", docs[i].Name, err)
		}
		if err != nil {
			return nil, sdk.Retryable(fmt.Errorf("documents: %q: %w", docs[i].Name, err))
		}
		b.host().Log(ctx, "debug", "signature: pages and anchors read", map[string]any{"document": docs[i].Name, "pages": len(l.Pages), "took_ms": time.Since(start).Milliseconds()})
		layouts[i] = l
		for _, p := range l.Pages {
			docs[i].Pages = append(docs[i].Pages, pageSize{W: round2(p.Width), H: round2(p.Height)})
		}
	}
	var out []field
	for ri, s := range signers {
		for j, fc := range s.Fields {
			where := fmt.Sprintf("recipients[%d].fields[%d]", ri, j)
			def := fieldDefaults[fc.Type]
			f := field{Recipient: ri, Name: fieldNameFor(s.Fields, j), Type: fc.Type, Label: cleanText(fc.Label, 200), Required: fc.Type != fieldCheckbox}
			if fc.Required != nil {
				f.Required = *fc.Required
			}
			if f.Label == "" {
				f.Label = def.label
			}
			w, h := fc.Width, fc.Height
			if w <= 0 {
				w = def.w
			}
			if h <= 0 {
				h = def.h
			}
			if fc.Anchor != "" {
				n := 0
				for di, l := range layouts {
					for _, m := range l.Anchors[fc.Anchor] {
						n++
						if fc.Occurrence == 0 || fc.Occurrence == n {
							f.Places = append(f.Places, place{Doc: di, Page: m.Page, X: round2(m.Box.X + fc.OffsetX), Y: round2(m.Box.Y + fc.OffsetY), W: w, H: h})
						}
					}
				}
				if n == 0 {
					return nil, fmt.Errorf("%s: %w: %q is in none of the documents (%s); check its spelling and that it is text in the PDF, not part of an image", where, errAnchor, fc.Anchor, docNames(docs))
				}
				if len(f.Places) == 0 {
					return nil, fmt.Errorf("%s: %w: occurrence %d of %q asked for, but %s has it %d times", where, errAnchor, fc.Occurrence, fc.Anchor, docNames(docs), n)
				}
			} else {
				di := max(fc.Document, 1) - 1
				if di >= len(docs) {
					return nil, fmt.Errorf("%s.document: %d, but there are %d documents", where, di+1, len(docs))
				}
				if fc.Page > len(docs[di].Pages) {
					return nil, fmt.Errorf("%s.page: %d, but %q has %d pages", where, fc.Page, docs[di].Name, len(docs[di].Pages))
				}
				f.Places = append(f.Places, place{Doc: di, Page: fc.Page, X: *fc.X, Y: *fc.Y, W: w, H: h})
			}
			for _, p := range f.Places {
				ps := docs[p.Doc].Pages[p.Page-1]
				if p.X < -1 || p.Y < -1 || p.X+p.W > ps.W+1 || p.Y+p.H > ps.H+1 {
					return nil, fmt.Errorf("%s: the box (x %.0f, y %.0f, %.0f × %.0f pt) does not fit on page %d of %q (%.0f × %.0f pt)", where, p.X, p.Y, p.W, p.H, p.Page, docs[p.Doc].Name, ps.W, ps.H)
				}
			}
			out = append(out, f)
		}
	}
	return out, nil
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// pageSize is a page's displayed size in points.
type pageSize struct {
	W float64 `json:"w"`
	H float64 `json:"h"`
}

// initials are the first letters of the words of name: "Ada Lovelace" → "AL".
func initials(name string) string {
	var b strings.Builder
	for _, w := range strings.Fields(name) {
		for _, r := range w {
			if unicode.IsLetter(r) {
				b.WriteRune(unicode.ToUpper(r))
			}
			break
		}
	}
	return b.String()
}

// fieldValues reads recipient i's field values from a posted form: each
// text field's first non-empty value ("field.<name>"), "yes" for a ticked
// box, the typed signature for signature fields, the date for date fields.
// It returns the values and, when a required field is empty, a message.
func fieldValues(fs []field, i int, form func(string) []string, signature, date string) (map[string]string, string) {
	out := map[string]string{}
	for _, f := range fs {
		if f.Recipient != i {
			continue
		}
		var v string
		switch f.Type {
		case fieldSignature:
			v = signature
		case fieldDate:
			v = date
		case fieldCheckbox:
			for _, x := range form("field." + f.Name) {
				if x == "yes" {
					v = "yes"
				}
			}
		default:
			for _, x := range form("field." + f.Name) {
				if x = cleanText(x, 500); x != "" {
					v = x
					break
				}
			}
		}
		if v == "" && f.Required {
			if f.Type == fieldCheckbox {
				return nil, "Tick the box \u201c" + f.Label + "\u201d on the document."
			}
			return nil, "Fill in \u201c" + f.Label + "\u201d on the document."
		}
		if f.Type == fieldCheckbox && v == "" {
			v = "no"
		}
		out[f.Name] = v
	}
	return out, ""
}
