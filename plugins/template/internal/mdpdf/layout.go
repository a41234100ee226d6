package mdpdf

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/paperflow/paperflow/plugins/template/fonts"
	"github.com/paperflow/paperflow/plugins/template/internal/pdfwrite"
)

// style is a combination of text attributes.
type style uint8

const (
	bold style = 1 << iota
	italic
	code
	strike
	link
)

// face is the font a style is set in. Italic is the upright face slanted
// when drawn (see drawLine), as DejaVu's own oblique faces are, so a
// document embeds at most the regular, bold and mono faces.
func (s style) face() *fonts.Face {
	switch {
	case s&code != 0:
		return fonts.Mono
	case s&bold != 0:
		return fonts.Bold
	}
	return fonts.Regular
}

// slant is the angle of synthesised italics, DejaVu Sans Oblique's own.
const slant = 11

// run is text in one style, the input of line breaking.
type run struct {
	text string
	st   style
	href string
	brk  bool // a hard line break instead of text
}

// piece is a run's part inside a word, measured.
type piece struct {
	text string
	face *fonts.Face
	st   style
	href string
	w    float64
}

// word is what line breaking moves as a whole; a word too wide for a line
// is cut between characters.
type word struct {
	pieces []piece
	w      float64
	space  float64 // width of the space before it; 0 when glued to the previous word
	brk    bool    // a hard line break
	rtl    bool
}

// line is a laid-out line of words.
type line struct {
	words []word
	w     float64
}

// doc is one PDF being written.
type doc struct {
	r    *Renderer
	pdf  *pdfwrite.Doc
	src  []byte // the part being laid out
	err  error
	left float64 // content box
	right,
	top,
	bottom float64
	y float64 // top of the next thing to draw

	missing map[rune]bool // characters no face has, drawn as U+FFFD
	quotes  []float64     // x of the bar of each open block quote
	marker  *listMark     // a list marker waiting for its item's first line
}

// listMark is a bullet or number drawn beside the first line of an item.
type listMark struct {
	text  string
	right float64 // the marker ends here
	size  float64
}

func newDoc(r *Renderer) *doc {
	d := &doc{
		r:    r,
		pdf:  pdfwrite.New(pdfwrite.Info{Title: r.opts.Title, Producer: "paperflow", Created: creationDate}),
		left: margin, right: pageW - margin, top: margin, bottom: pageH - margin,
	}
	d.newPage()
	return d
}

func (d *doc) newPage() {
	if d.err != nil {
		return
	}
	if d.pdf.PageCount() >= d.r.opts.MaxPages {
		d.err = fmt.Errorf("%w: more than %d pages; shorten the text or the values", ErrTooLong, d.r.opts.MaxPages)
		return
	}
	d.pdf.AddPage(pageW, pageH)
	d.y = d.top
}

// ensure starts a new page unless h more points fit on this one.
func (d *doc) ensure(h float64) {
	if d.y+h > d.bottom && d.y > d.top {
		d.newPage()
	}
}

// width measures s in face at size points.
func width(f *fonts.Face, s string, size float64) float64 {
	w := 0
	for _, r := range s {
		w += f.Width(r)
	}
	return float64(w) * size / 1000
}

// words splits runs into measured words. Spaces separate words; runs that
// touch without a space form one word ("**Zo**ë"). Text the style's face
// cannot draw is set in a fallback face (see spans).
func (d *doc) words(runs []run, size float64) []word {
	var out []word
	var cur word
	pendingSpace := 0.0
	flush := func() {
		if len(cur.pieces) > 0 {
			cur.space = pendingSpace
			var b strings.Builder
			for _, p := range cur.pieces {
				b.WriteString(p.text)
			}
			cur.rtl = isRTL(b.String())
			out = append(out, cur)
			pendingSpace = 0
		}
		cur = word{}
	}
	for _, r := range runs {
		if r.brk {
			flush()
			out = append(out, word{brk: true})
			pendingSpace = 0
			continue
		}
		for _, s := range d.spans(r.st.face(), r.text) {
			f, t := s.face, s.text
			for len(t) > 0 {
				sp := strings.IndexByte(t, ' ')
				part := t
				if sp >= 0 {
					part = t[:sp]
				}
				if part != "" {
					w := width(f, part, size)
					cur.pieces = append(cur.pieces, piece{text: part, face: f, st: r.st, href: r.href, w: w})
					cur.w += w
				}
				if sp < 0 {
					break
				}
				flush()
				if len(out) > 0 {
					pendingSpace = width(f, " ", size)
				}
				t = t[sp+1:]
			}
		}
	}
	flush()
	return out
}

// breakLines fills lines of at most max points with words set at size.
func breakLines(ws []word, max, size float64) []line {
	var lines []line
	var cur line
	for _, w := range ws {
		if w.brk {
			lines = append(lines, cur)
			cur = line{}
			continue
		}
		if len(cur.words) > 0 && cur.w+w.space+w.w <= max {
			w2 := w
			cur.w += w.space + w.w
			cur.words = append(cur.words, w2)
			continue
		}
		if len(cur.words) > 0 {
			lines = append(lines, cur)
			cur = line{}
		}
		w.space = 0
		for w.w > max {
			head, tail := cutWord(w, max, size)
			if len(head.pieces) == 0 { // not even one character fits
				break
			}
			lines = append(lines, line{words: []word{head}, w: head.w})
			w = tail
		}
		cur = line{words: []word{w}, w: w.w}
	}
	if len(cur.words) > 0 || len(lines) == 0 {
		lines = append(lines, cur)
	}
	return lines
}

// cutWord splits w so that the head is at most max points wide; at least
// one character goes into the head.
func cutWord(w word, max, size float64) (head, tail word) {
	used := 0.0
	for i, p := range w.pieces {
		if used+p.w <= max {
			head.pieces = append(head.pieces, p)
			used += p.w
			continue
		}
		f := p.face
		cut := 0
		for j, r := range p.text {
			rw := float64(f.Width(r)) * size / 1000
			if used+rw > max && (j > 0 || len(head.pieces) > 0) {
				break
			}
			used += rw
			cut = j + utf8.RuneLen(r)
		}
		if cut > 0 {
			hp := p
			hp.text = p.text[:cut]
			hp.w = width(f, hp.text, size)
			head.pieces = append(head.pieces, hp)
		}
		rest := p
		rest.text = p.text[cut:]
		rest.w = p.w - width(f, p.text[:cut], size)
		tail.pieces = append([]piece{rest}, w.pieces[i+1:]...)
		if rest.text == "" {
			tail.pieces = tail.pieces[1:]
		}
		break
	}
	head.w = sumWidths(head.pieces)
	tail.w = sumWidths(tail.pieces)
	head.rtl, tail.rtl = w.rtl, w.rtl
	return head, tail
}

func sumWidths(ps []piece) float64 {
	w := 0.0
	for _, p := range ps {
		w += p.w
	}
	return w
}

// visual puts runs of right-to-left words of a line in reading order.
func visual(ws []word) []word {
	has := false
	for _, w := range ws {
		if w.rtl {
			has = true
			break
		}
	}
	if !has {
		return ws
	}
	out := make([]word, len(ws))
	copy(out, ws)
	for i := 0; i < len(out); {
		if !out[i].rtl {
			i++
			continue
		}
		j := i
		for j < len(out) && out[j].rtl {
			j++
		}
		spaces := make([]float64, j-i)
		for k := i; k < j; k++ {
			spaces[k-i] = out[k].space
		}
		for a, b := i, j-1; a < b; a, b = a+1, b-1 {
			out[a], out[b] = out[b], out[a]
		}
		for k := i; k < j; k++ {
			out[k].space = spaces[k-i]
			w := out[k]
			ps := make([]piece, len(w.pieces))
			for n, p := range w.pieces {
				p.text = reverse(p.text)
				ps[len(ps)-1-n] = p
			}
			out[k].pieces = ps
		}
		i = j
	}
	return out
}

var (
	black     = pdfwrite.Color{0, 0, 0}
	linkBlue  = pdfwrite.Color{20, 70, 160}
	codeShade = pdfwrite.Color{243, 243, 243}
	quoteGrey = pdfwrite.Color{190, 190, 190}
)

// drawLine draws a line with its baseline at y, starting at x.
func (d *doc) drawLine(l line, x, baseline, size float64) {
	if d.marker != nil {
		m := d.marker
		d.marker = nil
		f := style(0).face()
		d.pdf.Text(m.right-width(f, m.text, m.size), baseline, m.text, pdfwrite.TextStyle{Face: f, Size: m.size, Color: black})
	}
	for _, w := range visual(l.words) {
		x += w.space
		for _, p := range w.pieces {
			st := pdfwrite.TextStyle{Face: p.face, Size: size, Color: black, Strike: p.st&strike != 0}
			if p.href != "" {
				st.Color, st.Underline = linkBlue, true
			}
			if p.st&italic != 0 && p.st&code == 0 {
				st.Slant = slant
			}
			d.pdf.Text(x, baseline, p.text, st)
			if p.href != "" {
				d.pdf.Link(x, baseline-size, p.w, size*1.2, p.href)
			}
			x += p.w
		}
	}
}

// paragraph lays runs out between left and the right edge and draws them,
// breaking pages as needed.
func (d *doc) paragraph(runs []run, left, size, lead float64, shade bool) {
	ws := d.words(runs, size)
	lh := size * lead
	for _, l := range breakLines(ws, d.right-left, size) {
		if d.err != nil {
			return
		}
		d.ensure(lh)
		if shade {
			d.pdf.SetFillColor(codeShade)
			d.pdf.Rect(left-4, d.y, d.right-left+8, lh, pdfwrite.Fill)
		}
		d.quoteBars(lh)
		d.drawLine(l, left, d.y+size*0.93+(lh-size*1.17)/2, size)
		d.y += lh
	}
}

// quoteBars draws the bars of open block quotes beside a line of height h.
func (d *doc) quoteBars(h float64) {
	if len(d.quotes) == 0 {
		return
	}
	d.pdf.SetStrokeColor(quoteGrey)
	d.pdf.SetLineWidth(2)
	for _, x := range d.quotes {
		d.pdf.Line(x, d.y, x, d.y+h)
	}
	d.pdf.SetLineWidth(0.6)
	d.pdf.SetStrokeColor(black)
}
