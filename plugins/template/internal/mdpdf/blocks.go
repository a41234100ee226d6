package mdpdf

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/yuin/goldmark/ast"
	east "github.com/yuin/goldmark/extension/ast"

	"github.com/paperflow/paperflow/plugins/template/internal/pdfwrite"
)

// Type sizes in points.
const (
	bodySize = 10.5
	codeSize = 9
	bodyLead = 1.45
)

var headingSizes = [7]float64{0, 20, 16, 13.5, 12, 11, 10.5}

// blocks draws the block children of n with their left edge at left;
// depth counts enclosing lists, for bullet shapes.
func (d *doc) blocks(n ast.Node, left float64, depth int) {
	for c := n.FirstChild(); c != nil && d.err == nil; c = c.NextSibling() {
		d.block(c, left, depth)
	}
}

func (d *doc) block(n ast.Node, left float64, depth int) {
	switch n := n.(type) {
	case *ast.Heading:
		size := headingSizes[min(max(n.Level, 1), 6)]
		if d.y > d.top {
			d.y += size * 0.6
		}
		// Keep a heading with at least two lines of what follows.
		d.ensure(size*1.3 + 2*bodySize*bodyLead)
		d.inlineFlow(n, left, size, 1.3, bold)
		d.y += size * 0.35
	case *ast.Paragraph:
		d.inlineFlow(n, left, bodySize, bodyLead, 0)
		d.y += bodySize * 0.6
	case *ast.TextBlock:
		d.inlineFlow(n, left, bodySize, bodyLead, 0)
		if n.NextSibling() != nil {
			d.y += bodySize * 0.3
		}
	case *ast.List:
		d.list(n, left, depth)
		if _, nested := n.Parent().(*ast.ListItem); !nested {
			d.y += bodySize * 0.6
		}
	case *ast.Blockquote:
		d.quotes = append(d.quotes, left+2)
		d.blocks(n, left+14, depth)
		d.quotes = d.quotes[:len(d.quotes)-1]
	case *ast.FencedCodeBlock:
		d.codeBlock(n, left)
	case *ast.CodeBlock:
		d.codeBlock(n, left)
	case *ast.ThematicBreak:
		d.ensure(bodySize)
		d.flushMarker()
		y := d.y + bodySize*0.5
		d.pdf.SetStrokeColor(pdfwrite.Color{160, 160, 160})
		d.pdf.SetLineWidth(0.6)
		d.pdf.Line(left, y, d.right, y)
		d.pdf.SetStrokeColor(black)
		d.y += bodySize * 1.2
	case *east.Table:
		d.table(n, left)
		d.y += bodySize * 0.6
	case *ast.HTMLBlock:
		// Raw HTML is not rendered.
	default:
		d.blocks(n, left, depth)
	}
}

// list draws the items of a bullet or numbered list.
func (d *doc) list(l *ast.List, left float64, depth int) {
	indent := 18.0
	if l.IsOrdered() {
		indent = 22
	}
	bullets := []string{"•", "◦", "▪"}
	num := l.Start
	for item := l.FirstChild(); item != nil && d.err == nil; item = item.NextSibling() {
		mark := bullets[depth%len(bullets)]
		if l.IsOrdered() {
			mark = strconv.Itoa(num) + string(l.Marker)
			num++
		}
		d.marker = &listMark{text: mark, right: left + indent - 5, size: bodySize}
		d.blocks(item, left+indent, depth+1)
		d.flushMarker()
		if !l.IsTight && item.NextSibling() != nil {
			d.y += bodySize * 0.3
		}
	}
}

// flushMarker draws a pending list marker at the current position, for an
// item that does not start with a line of text.
func (d *doc) flushMarker() {
	if d.marker == nil {
		return
	}
	d.ensure(bodySize * bodyLead)
	d.drawLine(line{}, 0, d.y+bodySize, bodySize)
}

func (d *doc) codeBlock(n ast.Node, left float64) {
	d.flushMarker()
	lines := n.Lines()
	d.y += 2
	for i := 0; i < lines.Len() && d.err == nil; i++ {
		seg := lines.At(i)
		text := strings.TrimRight(string(seg.Value(d.src)), "\r\n")
		d.paragraph([]run{{text: strings.ReplaceAll(text, " ", "\u00a0"), st: code}}, left+4, codeSize, 1.35, true)
	}
	d.y += bodySize * 0.8
}

// inlineFlow draws the inline content of n as one or more paragraphs: an
// image inside the text becomes a block of its own.
func (d *doc) inlineFlow(n ast.Node, left, size, lead float64, base style) {
	var runs []run
	flush := func() {
		if len(runs) > 0 {
			d.paragraph(runs, left, size, lead, false)
			runs = runs[:0]
		}
	}
	d.inlines(n, base, "", func(r run, img *ast.Image) {
		if img != nil {
			flush()
			d.image(img, left)
			return
		}
		runs = append(runs, r)
	})
	flush()
}

// inlines walks inline nodes and reports text runs and images in order.
func (d *doc) inlines(n ast.Node, st style, href string, emit func(run, *ast.Image)) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			emit(run{text: unescape(c.Segment.Value(d.src)), st: st, href: href}, nil)
			switch {
			case c.HardLineBreak():
				emit(run{brk: true}, nil)
			case c.SoftLineBreak():
				emit(run{text: " ", st: st}, nil)
			}
		case *ast.String:
			emit(run{text: unescape(c.Value), st: st, href: href}, nil)
		case *ast.Emphasis:
			s := st | italic
			if c.Level >= 2 {
				s = st | bold
			}
			d.inlines(c, s, href, emit)
		case *east.Strikethrough:
			d.inlines(c, st|strike, href, emit)
		case *ast.CodeSpan:
			var b bytes.Buffer
			for t := c.FirstChild(); t != nil; t = t.NextSibling() {
				switch t := t.(type) {
				case *ast.Text:
					b.Write(t.Segment.Value(d.src))
				case *ast.String:
					b.Write(t.Value)
				}
			}
			emit(run{text: b.String(), st: st | code, href: href}, nil)
		case *ast.Link:
			d.inlines(c, st, safeLink(unescape(c.Destination)), emit)
		case *ast.AutoLink:
			label := string(c.Label(d.src))
			emit(run{text: label, st: st, href: safeLink(string(c.URL(d.src)))}, nil)
		case *ast.Image:
			emit(run{}, c)
		case *ast.RawHTML:
			var b bytes.Buffer
			for i := 0; i < c.Segments.Len(); i++ {
				seg := c.Segments.At(i)
				b.Write(seg.Value(d.src))
			}
			switch strings.ToLower(strings.ReplaceAll(b.String(), " ", "")) {
			case "<br>", "<br/>":
				emit(run{brk: true}, nil)
			}
		default:
			d.inlines(c, st, href, emit)
		}
	}
}

// safeLink keeps web and mail links; anything else is drawn as plain text.
func safeLink(dest string) string {
	l := strings.ToLower(dest)
	if strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "mailto:") {
		return dest
	}
	return ""
}

// image draws a picture as a block, scaled down to fit the column and the
// page; 96 pixels make an inch.
func (d *doc) image(n *ast.Image, left float64) {
	img, err := d.r.images.load(unescape(n.Destination))
	if err != nil {
		d.err = err
		return
	}
	w, h := float64(img.pic.Width)*72/96, float64(img.pic.Height)*72/96
	if max := d.right - left; w > max {
		w, h = max, h*max/w
	}
	if max := d.bottom - d.top; h > max {
		w, h = w*max/h, max
	}
	d.ensure(h)
	d.flushMarker()
	d.pdf.Image(img.pic, left, d.y, w, h)
	d.y += h + 4
}
