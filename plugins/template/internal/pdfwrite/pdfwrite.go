// Package pdfwrite writes PDF files as the Markdown layout draws them:
// pages of text in embedded TrueType subsets, filled and stroked
// rectangles, lines, PNG and JPEG pictures and web links.
//
// It is made for many documents from one template. Fonts are parsed once
// per process (package fonts); a font subset is made once per set of
// glyphs and kept, compressed, for the documents that follow; pictures are
// decoded and compressed once (Image); compressors come from a pool. Text
// is written as glyph ids (Type 0 fonts with CIDFontType2 descendants,
// Identity-H), so every glyph a font has can be drawn, emoji beyond U+FFFF
// included, and a ToUnicode map lets readers extract the text as written.
//
// Coordinates are in points from the top left corner of the page, y
// growing downwards.
package pdfwrite

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/klauspost/compress/zlib"

	"github.com/paperflow/paperflow/plugins/template/fonts"
)

// Info goes into the document information dictionary.
type Info struct {
	Title    string
	Producer string
	Created  time.Time
}

// Color is an RGB colour, 0–255 per channel.
type Color [3]uint8

// Doc is one PDF being written; not safe for concurrent use.
type Doc struct {
	info   Info
	pages  []*page
	cur    *page
	fonts  []*fontUse
	byFace map[*fonts.Face]*fontUse
	images []*Image

	fill, stroke Color
	lineWidth    float64
}

type page struct {
	w, h    float64
	content []byte
	links   []link

	// graphics state written so far on this page
	fill, stroke Color
	lineWidth    float64
}

type link struct {
	x, y, w, h float64
	uri        string
}

// fontUse is a face used by the document and the glyphs it draws.
type fontUse struct {
	face *fonts.Face
	name string   // resource name: F1, F2…
	used []uint64 // bit per glyph id
}

// New starts an empty document.
func New(info Info) *Doc {
	return &Doc{info: info, byFace: map[*fonts.Face]*fontUse{}, lineWidth: 0.57}
}

// AddPage starts a page of w by h points; drawing goes to it.
func (d *Doc) AddPage(w, h float64) {
	p := &page{w: w, h: h, lineWidth: -1}
	p.content = getBuffer()
	d.pages = append(d.pages, p)
	d.cur = p
}

// PageCount is the number of pages so far.
func (d *Doc) PageCount() int { return len(d.pages) }

// SetFillColor sets the colour rectangles are filled with.
func (d *Doc) SetFillColor(c Color) { d.fill = c }

// SetStrokeColor sets the colour of lines and rectangle borders.
func (d *Doc) SetStrokeColor(c Color) { d.stroke = c }

// SetLineWidth sets the width of lines and rectangle borders.
func (d *Doc) SetLineWidth(w float64) { d.lineWidth = w }

// Paint says how a rectangle is drawn.
type Paint uint8

const (
	Fill Paint = 1 << iota
	Stroke
)

func (d *Doc) applyFill(c Color) {
	if d.cur.fill != c {
		d.cur.fill = c
		d.op(rgb(c)...).str(" rg\n")
	}
}

func (d *Doc) applyStroke() {
	if d.cur.stroke != d.stroke {
		d.cur.stroke = d.stroke
		d.op(rgb(d.stroke)...).str(" RG\n")
	}
	if d.cur.lineWidth != d.lineWidth {
		d.cur.lineWidth = d.lineWidth
		d.op(d.lineWidth).str(" w\n")
	}
}

func rgb(c Color) []float64 {
	return []float64{float64(c[0]) / 255, float64(c[1]) / 255, float64(c[2]) / 255}
}

// Rect draws a rectangle with its top left corner at x, y.
func (d *Doc) Rect(x, y, w, h float64, how Paint) {
	if how&Fill != 0 {
		d.applyFill(d.fill)
	}
	if how&Stroke != 0 {
		d.applyStroke()
	}
	d.op(x, d.cur.h-y, w, -h).str(" re ")
	switch how {
	case Fill:
		d.str("f\n")
	case Stroke:
		d.str("S\n")
	default:
		d.str("B\n")
	}
}

// Line draws a line from x1, y1 to x2, y2.
func (d *Doc) Line(x1, y1, x2, y2 float64) {
	d.applyStroke()
	d.op(x1, d.cur.h-y1).str(" m ")
	d.op(x2, d.cur.h-y2).str(" l S\n")
}

// TextStyle is how Text draws.
type TextStyle struct {
	Face  *fonts.Face
	Size  float64 // points
	Color Color
	// Slant leans the text right by this many degrees: italics made from
	// an upright face.
	Slant     float64
	Underline bool
	Strike    bool
}

// Text draws s with its baseline starting at x, y. Runes the face lacks
// are drawn as its missing glyph. Width measures the same text.
func (d *Doc) Text(x, y float64, s string, st TextStyle) {
	if s == "" {
		return
	}
	fu := d.font(st.Face)
	d.applyFill(st.Color)
	d.str("BT /").str(fu.name).byte(' ').op(st.Size).str(" Tf ")
	if st.Slant != 0 {
		d.op(1, 0, math.Tan(st.Slant*math.Pi/180), 1, x, d.cur.h-y).str(" Tm <")
	} else {
		d.op(x, d.cur.h-y).str(" Td <")
	}
	const hex = "0123456789ABCDEF"
	width := 0
	c := d.cur.content
	for _, r := range s {
		g := st.Face.Glyph(r)
		fu.mark(g)
		width += st.Face.GlyphWidth(g)
		c = append(c, hex[g>>12], hex[g>>8&15], hex[g>>4&15], hex[g&15])
	}
	d.cur.content = append(c, "> Tj ET\n"...)
	if st.Underline || st.Strike {
		m := st.Face.Metrics()
		w := float64(width) * st.Size / 1000
		thick := float64(m.UnderlineThickness) * st.Size / 1000
		if st.Underline {
			d.op(x, d.cur.h-(y-float64(m.UnderlinePos)*st.Size/1000), w, -thick).str(" re f\n")
		}
		if st.Strike {
			d.op(x, d.cur.h-(y+4*float64(m.UnderlinePos)*st.Size/1000), w, -thick).str(" re f\n")
		}
	}
}

// Width is the advance width of s in face at size points, as Text draws it.
func Width(face *fonts.Face, s string, size float64) float64 {
	w := 0
	for _, r := range s {
		w += face.GlyphWidth(face.Glyph(r))
	}
	return float64(w) * size / 1000
}

// Link makes the rectangle with its top left corner at x, y open uri.
func (d *Doc) Link(x, y, w, h float64, uri string) {
	d.cur.links = append(d.cur.links, link{x, y, w, h, uri})
}

// Image draws img scaled to w by h points with its top left corner at x, y.
func (d *Doc) Image(img *Image, x, y, w, h float64) {
	i := slices.Index(d.images, img)
	if i < 0 {
		i = len(d.images)
		d.images = append(d.images, img)
	}
	d.str("q ").op(w, 0, 0, h, x, d.cur.h-y-h).str(" cm /I").str(strconv.Itoa(i + 1)).str(" Do Q\n")
}

func (d *Doc) font(f *fonts.Face) *fontUse {
	if fu, ok := d.byFace[f]; ok {
		return fu
	}
	fu := &fontUse{face: f, name: "F" + strconv.Itoa(len(d.fonts)+1), used: make([]uint64, (f.Metrics().Glyphs+63)/64)}
	d.fonts = append(d.fonts, fu)
	d.byFace[f] = fu
	return fu
}

func (fu *fontUse) mark(g uint16) {
	if int(g)/64 < len(fu.used) {
		fu.used[g/64] |= 1 << (g % 64)
	}
}

// op writes numbers separated by spaces.
func (d *Doc) op(vs ...float64) *Doc {
	for i, v := range vs {
		if i > 0 {
			d.cur.content = append(d.cur.content, ' ')
		}
		d.cur.content = appendNum(d.cur.content, v)
	}
	return d
}

func (d *Doc) str(s string) *Doc {
	d.cur.content = append(d.cur.content, s...)
	return d
}

func (d *Doc) byte(c byte) *Doc {
	d.cur.content = append(d.cur.content, c)
	return d
}

// appendNum writes v with at most three decimals (a thousandth of a
// point), without trailing zeros.
func appendNum(b []byte, v float64) []byte {
	n := int64(math.Round(v * 1000))
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/1000, 10)
	if frac := n % 1000; frac != 0 {
		b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	return b
}

// Bytes finishes the document and returns the PDF. The document cannot be
// drawn on afterwards.
func (d *Doc) Bytes() ([]byte, error) {
	var w writer
	err := d.write(&w)
	for _, p := range d.pages {
		putBuffer(p.content)
		p.content = nil
	}
	if err != nil {
		return nil, err
	}
	return w.buf, nil
}

// WriteTo writes the finished document to out.
func (d *Doc) WriteTo(out io.Writer) (int64, error) {
	b, err := d.Bytes()
	if err != nil {
		return 0, err
	}
	n, err := out.Write(b)
	return int64(n), err
}

// writer keeps the byte offset of each object for the cross-reference
// table.
type writer struct {
	buf     []byte
	offsets []int // by object number; 0 is the free head
}

func (w *writer) begin(n int) {
	for len(w.offsets) <= n {
		w.offsets = append(w.offsets, 0)
	}
	w.offsets[n] = len(w.buf)
	w.buf = strconv.AppendInt(w.buf, int64(n), 10)
	w.buf = append(w.buf, " 0 obj\n"...)
}

func (w *writer) s(parts ...string) {
	for _, p := range parts {
		w.buf = append(w.buf, p...)
	}
}

func (w *writer) ref(n int) {
	w.buf = strconv.AppendInt(w.buf, int64(n), 10)
	w.buf = append(w.buf, " 0 R"...)
}

func (w *writer) int(n int) { w.buf = strconv.AppendInt(w.buf, int64(n), 10) }

// stream writes a stream object's dictionary entries (dict) and data,
// compressed with FlateDecode already.
func (w *writer) stream(n int, dict string, data []byte) {
	w.begin(n)
	w.s("<< ", dict, " /Filter /FlateDecode /Length ")
	w.int(len(data))
	w.s(" >>\nstream\n")
	w.buf = append(w.buf, data...)
	w.s("\nendstream\nendobj\n")
}

func (d *Doc) write(w *writer) error {
	if len(d.pages) == 0 {
		d.AddPage(595.28, 841.89)
	}
	const catalog, pagesObj, infoObj, resources = 1, 2, 3, 4
	next := 5
	pageObj := make([]int, len(d.pages))
	for i := range d.pages {
		pageObj[i] = next
		next += 2 // page, content
	}
	fontObj := make([]int, len(d.fonts))
	for i := range d.fonts {
		fontObj[i] = next
		next += 5 // Type0, CIDFont, descriptor, program, ToUnicode
	}
	imageObj := make([]int, len(d.images))
	for i, img := range d.images {
		imageObj[i] = next
		next++
		if img.mask != nil {
			next++
		}
	}

	subs := make([]*subset, len(d.fonts))
	for i, fu := range d.fonts {
		s, err := fu.subset()
		if err != nil {
			return err
		}
		subs[i] = s
	}
	w.buf = make([]byte, 0, d.sizeEstimate(subs, next))
	w.offsets = make([]int, 0, next)
	w.s("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")

	w.begin(catalog)
	w.s("<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
	w.begin(pagesObj)
	w.s("<< /Type /Pages /Count ")
	w.int(len(d.pages))
	w.s(" /Kids [")
	for i, n := range pageObj {
		if i > 0 {
			w.s(" ")
		}
		w.ref(n)
	}
	w.s("] >>\nendobj\n")
	w.begin(infoObj)
	w.s("<< /Producer ")
	w.buf = appendText(w.buf, d.info.Producer)
	if d.info.Title != "" {
		w.s(" /Title ")
		w.buf = appendText(w.buf, d.info.Title)
	}
	if !d.info.Created.IsZero() {
		w.s(" /CreationDate (", d.info.Created.UTC().Format("D:20060102150405Z"), ")")
	}
	w.s(" >>\nendobj\n")
	w.begin(resources)
	w.s("<< /ProcSet [/PDF /Text /ImageB /ImageC] /Font <<")
	for i, fu := range d.fonts {
		w.s(" /", fu.name, " ")
		w.ref(fontObj[i])
	}
	w.s(" >> /XObject <<")
	for i := range d.images {
		w.s(" /I", strconv.Itoa(i+1), " ")
		w.ref(imageObj[i])
	}
	w.s(" >> >>\nendobj\n")

	z := getCompressor()
	defer putCompressor(z)
	for i, p := range d.pages {
		w.begin(pageObj[i])
		w.s("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ")
		w.buf = appendNum(w.buf, p.w)
		w.s(" ")
		w.buf = appendNum(w.buf, p.h)
		w.s("] /Resources 4 0 R /Contents ")
		w.ref(pageObj[i] + 1)
		if len(p.links) > 0 {
			w.s(" /Annots [")
			for _, l := range p.links {
				w.s("<< /Type /Annot /Subtype /Link /Border [0 0 0] /Rect [")
				for j, v := range []float64{l.x, p.h - l.y - l.h, l.x + l.w, p.h - l.y} {
					if j > 0 {
						w.s(" ")
					}
					w.buf = appendNum(w.buf, v)
				}
				w.s("] /A << /S /URI /URI ")
				w.buf = appendURI(w.buf, l.uri)
				w.s(" >> >> ")
			}
			w.s("]")
		}
		w.s(" >>\nendobj\n")
		w.stream(pageObj[i]+1, "", z.compress(p.content))
	}
	for i, fu := range d.fonts {
		fu.write(w, fontObj[i], subs[i])
	}
	for i, img := range d.images {
		img.write(w, imageObj[i])
	}

	xref := len(w.buf)
	w.s("xref\n0 ")
	w.int(len(w.offsets))
	w.s("\n0000000000 65535 f \n")
	for _, off := range w.offsets[1:] {
		w.buf = fmt.Appendf(w.buf, "%010d 00000 n \n", off)
	}
	w.s("trailer\n<< /Size ")
	w.int(len(w.offsets))
	w.s(" /Root 1 0 R /Info 3 0 R >>\nstartxref\n")
	w.int(xref)
	w.s("\n%%EOF\n")
	return nil
}

// sizeEstimate is about the size of the finished document, a little
// more rather than less, so that its buffer is allocated once: the
// cached parts (font subsets, pictures) as they are, page contents as
// they usually compress, and room for the objects around them.
func (d *Doc) sizeEstimate(subs []*subset, objects int) int {
	n := 2<<10 + 20*objects
	for _, p := range d.pages {
		n += 512 + len(p.content)/3 + 160*len(p.links)
	}
	for _, s := range subs {
		n += 1<<10 + 3*len(s.name) + len(s.widths) + len(s.program) + len(s.toUnicode)
	}
	for _, img := range d.images {
		for ; img != nil; img = img.mask {
			n += 128 + len(img.dict) + len(img.data)
		}
	}
	return n
}

// appendText writes s as a PDF text string: literal when ASCII, else
// UTF-16BE with a byte order mark.
func appendText(b []byte, s string) []byte {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] < 0x20 {
			ascii = false
			break
		}
	}
	if ascii {
		b = append(b, '(')
		for i := 0; i < len(s); i++ {
			if c := s[i]; c == '(' || c == ')' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, s[i])
		}
		return append(b, ')')
	}
	b = append(b, "<FEFF"...)
	for _, u := range utf16.Encode([]rune(s)) {
		b = fmt.Appendf(b, "%04X", u)
	}
	return append(b, '>')
}

// appendURI writes a URI as a PDF string; bytes outside printable ASCII
// are percent-encoded, as a URI action takes 7-bit text.
func appendURI(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	b = append(b, '(')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= 0x20 || c >= 0x7f:
			b = append(b, '%', hex[c>>4], hex[c&15])
		case c == '(' || c == ')' || c == '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return append(b, ')')
}

// Buffers for page contents and compressors are reused across documents.
var (
	buffers     sync.Pool
	compressors sync.Pool
)

func getBuffer() []byte {
	if b, ok := buffers.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 8<<10)
}

func putBuffer(b []byte) {
	if cap(b) > 1<<20 {
		return // a huge page; do not keep its memory
	}
	buffers.Put(&b)
}

// compressor is a reusable zlib writer with its output buffer.
type compressor struct {
	zw  *zlib.Writer
	out bytes.Buffer
}

func getCompressor() *compressor {
	if c, ok := compressors.Get().(*compressor); ok {
		return c
	}
	c := &compressor{}
	c.zw, _ = zlib.NewWriterLevel(&c.out, zlib.BestSpeed)
	return c
}

func putCompressor(c *compressor) { compressors.Put(c) }

// compress returns data compressed. The result is valid until the next
// call; the caller copies it out at once.
func (c *compressor) compress(data []byte) []byte {
	c.out.Reset()
	c.zw.Reset(&c.out)
	c.zw.Write(data)
	c.zw.Close()
	return c.out.Bytes()
}

// deflateBest compresses data as small as zlib can, for font subsets:
// each is made once per glyph set and copied into every document that
// follows, its store and its emails, so a byte saved here is saved in
// all of them.
func deflateBest(data []byte) []byte {
	var out bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&out, zlib.BestCompression)
	zw.Write(data)
	zw.Close()
	return out.Bytes()
}

// deflate compresses data once, for what is cached.
func deflate(data []byte) []byte {
	c := getCompressor()
	defer putCompressor(c)
	return bytes.Clone(c.compress(data))
}
