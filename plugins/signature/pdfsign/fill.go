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
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
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
	// markFooter writes Text small, centred at the foot of the page as
	// shown (the stamp on every original page); Box is not used.
	markFooter
)

// Box is a place on a page in points, X and Y from the page's top-left
// corner as displayed: the crop box (or media box) is the page, wherever it
// starts, turned by the page's /Rotate. A value is drawn upright as the
// page is shown.
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
// file. The values are laid out on pages of their own and stamped onto
// the original pages, so the original's content is untouched underneath.
func Fill(pdf []byte, fields []FilledField, fonts FillFonts) ([]byte, error) {
	if len(fields) == 0 {
		return pdf, nil
	}
	out, err := overlay(pdf, fields, fonts)
	if err != nil {
		return nil, fmt.Errorf("pdfsign: fill in the fields: %w", err)
	}
	return out, nil
}

// view is how viewers show a page: its visible box (the crop box within
// the media box, in the page's own space, which need not start at 0,0)
// and its /Rotate in quarter turns clockwise. Boxes given to Fill are
// measured on the page as shown.
type view struct {
	box      types.Rectangle
	quarters int
}

// shownSize is the page's width and height as displayed.
func (v view) shownSize() (w, h float64) {
	w, h = v.box.Width(), v.box.Height()
	if v.quarters%2 == 1 {
		w, h = h, w
	}
	return w, h
}

// toPage is the matrix that takes a point drawn on an overlay page of the
// visible box's unrotated size, where the overlay is laid out as the page
// is shown (fpdf's coordinates, from the shown top-left corner), to where
// it must be on that overlay so that, stamped at the visible box's lower
// left corner and turned by the page's /Rotate, it shows there.
func (v view) toPage() fpdf.TransformMatrix {
	w, h := v.box.Width(), v.box.Height()
	switch v.quarters {
	case 1:
		return fpdf.TransformMatrix{A: 0, B: 1, C: -1, D: 0, E: h, F: 0}
	case 2:
		return fpdf.TransformMatrix{A: -1, B: 0, C: 0, D: -1, E: w, F: h}
	case 3:
		return fpdf.TransformMatrix{A: 0, B: -1, C: 1, D: 0, E: w - h, F: h}
	}
	return fpdf.TransformMatrix{A: 1, D: 1}
}

// views reads how each page of ctx is shown.
func views(ctx *model.Context) ([]view, error) {
	pbs, err := ctx.PageBoundaries(nil)
	if err != nil {
		return nil, err
	}
	out := make([]view, len(pbs))
	for i, pb := range pbs {
		media, crop := pb.MediaBox(), pb.CropBox()
		if media == nil {
			return nil, fmt.Errorf("page %d has no media box", i+1)
		}
		box := *media
		if crop != nil {
			// Viewers show the part of the crop box inside the media box.
			box = types.Rectangle{LL: types.Point{X: max(crop.LL.X, media.LL.X), Y: max(crop.LL.Y, media.LL.Y)},
				UR: types.Point{X: min(crop.UR.X, media.UR.X), Y: min(crop.UR.Y, media.UR.Y)}}
			if box.Width() <= 0 || box.Height() <= 0 {
				box = *media
			}
		}
		out[i] = view{box: box, quarters: ((pb.Rot%360 + 360) % 360 / 90) & 3}
	}
	return out, nil
}

// overlay draws fields onto pdf's pages. pdfcpu stamps a page with /Rotate
// by rewriting it unrotated, which moves the content of a page whose crop
// box does not start at 0,0 and leaves its links behind; so a rotated
// page's /Rotate is set to 0 while it is stamped, with the overlay laid
// out turned to match, and put back after.
func overlay(pdf []byte, fields []FilledField, fonts FillFonts) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil { // pdfcpu panics on some broken files
			out, err = nil, fmt.Errorf("not a readable PDF: %v", p)
		}
	}()
	c := conf()
	c.Cmd = model.ADDWATERMARKS
	ctx, err := api.ReadValidateAndOptimize(bytes.NewReader(pdf), c)
	if err != nil {
		return nil, err
	}
	vs, err := views(ctx)
	if err != nil {
		return nil, err
	}
	byPage := map[int][]FilledField{}
	var pages []int
	for _, f := range fields {
		if f.Page < 1 || f.Page > len(vs) {
			return nil, fmt.Errorf("a field is on page %d of a document of %d pages", f.Page, len(vs))
		}
		if _, ok := byPage[f.Page]; !ok {
			pages = append(pages, f.Page)
		}
		byPage[f.Page] = append(byPage[f.Page], f)
	}
	sheet, err := layOut(pages, byPage, vs, fonts)
	if err != nil {
		return nil, err
	}
	m := make(map[int]*model.Watermark, len(pages))
	for i, p := range pages {
		wm, err := api.PDFWatermarkForReadSeeker(bytes.NewReader(sheet), i+1, "scale:1 abs, pos:bl, rot:0, off:0 0", true, false, types.POINTS)
		if err != nil {
			return nil, err
		}
		m[p] = wm
	}
	setRotate := func(rot func(p int) int) error {
		for _, p := range pages {
			if vs[p-1].quarters == 0 {
				continue
			}
			d, _, _, err := ctx.PageDict(p, false)
			if err != nil {
				return err
			}
			if d == nil {
				return fmt.Errorf("page %d: no page dictionary", p)
			}
			d.Update("Rotate", types.Integer(rot(p)))
		}
		return nil
	}
	if err := setRotate(func(int) int { return 0 }); err != nil {
		return nil, err
	}
	if err := pdfcpu.AddWatermarksMap(ctx, m); err != nil {
		return nil, err
	}
	if err := setRotate(func(p int) int { return vs[p-1].quarters * 90 }); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := api.Write(ctx, &buf, c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// layOut makes one overlay page per page with fields, of the size of that
// page's visible box, unrotated; each field is drawn where it shows once
// the page is turned by its /Rotate.
func layOut(pages []int, byPage map[int][]FilledField, vs []view, fonts FillFonts) ([]byte, error) {
	first := vs[pages[0]-1].box
	pdf := fpdf.NewCustom(&fpdf.InitType{UnitStr: "pt", Size: fpdf.SizeType{Wd: first.Width(), Ht: first.Height()}})
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
		v := vs[p-1]
		pdf.AddPageFormat("P", fpdf.SizeType{Wd: v.box.Width(), Ht: v.box.Height()})
		pdf.TransformBegin()
		pdf.Transform(v.toPage())
		for i, f := range byPage[p] {
			l.draw(p, i, f, v)
		}
		pdf.TransformEnd()
	}
	var out bytes.Buffer
	if err := pdf.Output(&out); err != nil {
		return nil, fmt.Errorf("lay out the field values: %w", err)
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

func (l *filler) draw(page, i int, f FilledField, v view) {
	b := f.Box
	switch f.Mark {
	case markFooter:
		l.footer(f.Text, v)
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

// footerGrey is the stamp's colour.
var footerGrey = [3]int{0x4a, 0x4a, 0x4a}

// footer writes text in 7 pt Helvetica, centred, 12 pt above the foot of
// the page as shown.
func (l *filler) footer(text string, v view) {
	w, h := v.shownSize()
	l.pdf.SetFont("Helvetica", "", 7)
	l.pdf.SetTextColor(footerGrey[0], footerGrey[1], footerGrey[2])
	// The baseline sits a descent (about 0.21 em) above the line's foot.
	l.pdf.Text((w-l.pdf.GetStringWidth(text))/2, h-12-7*0.21, text)
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
