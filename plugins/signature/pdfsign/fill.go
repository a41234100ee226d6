package pdfsign

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-pdf/fpdf"
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Mark says how a field's value is drawn.
type Mark int

const (
	// MarkText draws the text in the regular face (names, dates, text).
	MarkText Mark = iota + 1
	// MarkScript draws the text in the script face (a typed signature or
	// initials).
	MarkScript
	// MarkImage draws the PNG in Image (a drawn signature).
	MarkImage
	// MarkCheck draws a tick when Text is non-empty.
	MarkCheck
)

// Box is a place on a page in points, X and Y from the page's top-left
// corner as displayed.
type Box struct{ X, Y, Width, Height float64 }

// FilledField is one value to draw on a page of the original.
type FilledField struct {
	Page  int // from 1
	Box   Box
	Mark  Mark
	Text  string
	Image []byte // PNG, for MarkImage
}

// FillFonts are the faces field values are drawn in.
type FillFonts struct {
	// Script draws signatures and initials; Regular everything else, and
	// any letter Script lacks.
	Script, Regular []byte
	// ScriptHas and RegularHas say whether a face has a glyph for r; nil:
	// every rune is assumed present.
	ScriptHas, RegularHas func(r rune) bool
}

// Fill draws each value in its box on the pages of pdf and returns the new
// file. The values are laid out on pages of their own (the original's page
// sizes) and stamped onto the original pages, so the original's content is
// untouched underneath.
func Fill(pdf []byte, fields []FilledField, fonts FillFonts) (out []byte, err error) {
	if len(fields) == 0 {
		return pdf, nil
	}
	defer func() {
		if p := recover(); p != nil { // pdfcpu panics on some broken files
			out, err = nil, fmt.Errorf("pdfsign: fill in the fields: not a readable PDF: %v", p)
		}
	}()
	dims, err := api.PageDims(bytes.NewReader(pdf), conf())
	if err != nil {
		return nil, fmt.Errorf("pdfsign: fill in the fields: %w", err)
	}
	byPage := map[int][]FilledField{}
	var pages []int
	for _, f := range fields {
		if f.Page < 1 || f.Page > len(dims) {
			return nil, fmt.Errorf("pdfsign: a field is on page %d of a document of %d pages", f.Page, len(dims))
		}
		if _, ok := byPage[f.Page]; !ok {
			pages = append(pages, f.Page)
		}
		byPage[f.Page] = append(byPage[f.Page], f)
	}
	overlay, err := layOut(pages, byPage, dims, fonts)
	if err != nil {
		return nil, err
	}
	m := make(map[int]*model.Watermark, len(pages))
	for i, p := range pages {
		wm, err := api.PDFWatermarkForReadSeeker(bytes.NewReader(overlay), i+1, "scale:1 abs, pos:bl, rot:0, off:0 0", true, false, types.POINTS)
		if err != nil {
			return nil, fmt.Errorf("pdfsign: fill in the fields: %w", err)
		}
		m[p] = wm
	}
	var buf bytes.Buffer
	if err := api.AddWatermarksMap(bytes.NewReader(pdf), &buf, m, conf()); err != nil {
		return nil, fmt.Errorf("pdfsign: fill in the fields: %w", err)
	}
	return buf.Bytes(), nil
}

// layOut makes one overlay page per page with fields, sized as that page.
func layOut(pages []int, byPage map[int][]FilledField, dims []types.Dim, fonts FillFonts) ([]byte, error) {
	pdf := fpdf.NewCustom(&fpdf.InitType{UnitStr: "pt", Size: fpdf.SizeType{Wd: dims[0].Width, Ht: dims[0].Height}})
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetMargins(0, 0, 0)
	l := &filler{pdf: pdf, fonts: fonts}
	if len(fonts.Script) > 0 {
		pdf.AddUTF8FontFromBytes("Script", "", fonts.Script)
		l.script = "Script"
	}
	if len(fonts.Regular) > 0 {
		pdf.AddUTF8FontFromBytes("Regular", "", fonts.Regular)
		l.regular = "Regular"
	}
	for _, p := range pages {
		d := dims[p-1]
		pdf.AddPageFormat("P", fpdf.SizeType{Wd: d.Width, Ht: d.Height})
		for i, f := range byPage[p] {
			l.draw(p, i, f)
		}
	}
	var out bytes.Buffer
	if err := pdf.Output(&out); err != nil {
		return nil, fmt.Errorf("pdfsign: lay out the field values: %w", err)
	}
	return out.Bytes(), nil
}

type filler struct {
	pdf             *fpdf.Fpdf
	fonts           FillFonts
	script, regular string
}

// ink is the blue of a pen, for what the signer wrote.
var ink = [3]int{20, 40, 120}

func (l *filler) draw(page, i int, f FilledField) {
	b := f.Box
	switch f.Mark {
	case MarkImage:
		l.image(page, i, f)
	case MarkCheck:
		if f.Text == "" {
			return
		}
		s := min(b.Width, b.Height)
		x, y := b.X+(b.Width-s)/2, b.Y+(b.Height-s)/2
		l.pdf.SetDrawColor(ink[0], ink[1], ink[2])
		l.pdf.SetLineWidth(max(1, s/8))
		l.pdf.SetLineCapStyle("round")
		l.pdf.Line(x+s*0.15, y+s*0.55, x+s*0.4, y+s*0.8)
		l.pdf.Line(x+s*0.4, y+s*0.8, x+s*0.85, y+s*0.2)
	default:
		l.text(f)
	}
}

// text writes f.Text on one line, as large as the box allows, vertically
// centred.
func (l *filler) text(f FilledField) {
	family, has := l.regular, l.fonts.RegularHas
	if f.Mark == MarkScript && l.script != "" && covers(f.Text, l.fonts.ScriptHas) {
		family, has = l.script, l.fonts.ScriptHas
	}
	conv := func(s string) string { return s }
	if family == "" {
		family, has = "Helvetica", inCP1252
		conv = l.pdf.UnicodeTranslatorFromDescriptor("cp1252")
	}
	text := conv(strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r):
			return ' '
		case has != nil && !has(r):
			return '?'
		}
		return r
	}, f.Text))
	b := f.Box
	// The font size at which the line's ascent and descent fill the box
	// (about 1.15 em for these faces), then smaller if the line is too
	// wide.
	size := b.Height / 1.25
	l.pdf.SetFont(family, "", size)
	if w := l.pdf.GetStringWidth(text); w > b.Width && w > 0 {
		size *= b.Width / w
		l.pdf.SetFont(family, "", size)
	}
	l.pdf.SetTextColor(ink[0], ink[1], ink[2])
	l.pdf.SetXY(b.X, b.Y)
	l.pdf.CellFormat(b.Width, b.Height, text, "", 0, "LM", false, 0, "")
}

func covers(s string, has func(rune) bool) bool {
	if has == nil {
		return true
	}
	for _, r := range s {
		if !unicode.IsSpace(r) && !has(r) {
			return false
		}
	}
	return true
}

// image draws a drawn signature in the box, keeping its aspect ratio; an
// image that cannot be read is left out.
func (l *filler) image(page, i int, f FilledField) {
	name := "field-" + strconv.Itoa(page) + "-" + strconv.Itoa(i)
	opts := fpdf.ImageOptions{ImageType: "PNG"}
	info := l.pdf.RegisterImageOptionsReader(name, opts, io.Reader(bytes.NewReader(f.Image)))
	if info == nil || !l.pdf.Ok() {
		l.pdf.ClearError()
		return
	}
	w, h := info.Extent()
	if w <= 0 || h <= 0 {
		return
	}
	b := f.Box
	scale := min(b.Width/w, b.Height/h)
	dw, dh := w*scale, h*scale
	l.pdf.ImageOptions(name, b.X+(b.Width-dw)/2, b.Y+(b.Height-dh)/2, dw, dh, false, opts, 0, "")
}
