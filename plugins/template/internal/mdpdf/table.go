package mdpdf

import (
	"math"

	"github.com/yuin/goldmark/ast"
	east "github.com/yuin/goldmark/extension/ast"

	"github.com/paperflow/paperflow/plugins/template/internal/pdfwrite"
)

const (
	cellSize = 10
	cellLead = 1.35
	cellPad  = 4
)

// cell is a table cell, broken into lines once its column width is known.
type cell struct {
	words []word
	align east.Alignment
	lines []line
}

type tableRow struct {
	cells  []cell
	header bool
	n      int // lines of the tallest cell
}

// table draws a GitHub table across the column: widths follow the content,
// long cells wrap, a row taller than the space left moves to the next page
// (or, taller than a page, continues there), and the header row repeats at
// the top of each new page.
func (d *doc) table(t *east.Table, left float64) {
	d.flushMarker()
	var rows []tableRow
	cols := 0
	for r := t.FirstChild(); r != nil; r = r.NextSibling() {
		_, header := r.(*east.TableHeader)
		row := tableRow{header: header}
		for c := r.FirstChild(); c != nil; c = c.NextSibling() {
			var runs []run
			base := style(0)
			if header {
				base = bold
			}
			d.inlines(c, base, "", func(rn run, img *ast.Image) {
				if img != nil { // pictures do not go into cells; their text does
					d.inlines(img, base, "", func(rn run, _ *ast.Image) { runs = append(runs, rn) })
					return
				}
				runs = append(runs, rn)
			})
			align := east.AlignNone
			if tc, ok := c.(*east.TableCell); ok {
				align = tc.Alignment
			}
			row.cells = append(row.cells, cell{words: d.words(runs, cellSize), align: align})
		}
		cols = max(cols, len(row.cells))
		rows = append(rows, row)
	}
	if cols == 0 {
		return
	}
	widths := columnWidths(rows, cols, d.right-left)
	for i := range rows {
		for c := range rows[i].cells {
			cl := &rows[i].cells[c]
			cl.lines = breakLines(cl.words, widths[c]-2*cellPad, cellSize)
			rows[i].n = max(rows[i].n, len(cl.lines))
		}
		rows[i].n = max(rows[i].n, 1)
	}
	lh := cellSize * cellLead
	var header *tableRow
	if rows[0].header && rowHeight(rows[0].n, lh) < (d.bottom-d.top)/4 {
		header = &rows[0]
	}
	for i := range rows {
		d.tableRow(&rows[i], header, widths, left, lh)
		if d.err != nil {
			return
		}
	}
}

func rowHeight(lines int, lh float64) float64 { return float64(lines)*lh + 2*cellPad }

// tableRow draws one row, across pages when it must.
func (d *doc) tableRow(row, header *tableRow, widths []float64, left, lh float64) {
	newPage := func() {
		d.newPage()
		if header != nil && header != row && d.err == nil {
			d.rowPart(header, 0, header.n, widths, left, lh)
		}
	}
	pageTop := d.top
	if header != nil && header != row {
		pageTop += rowHeight(header.n, lh)
	}
	perPage := max(int((d.bottom-pageTop-2*cellPad)/lh), 1)
	for k := 0; k < row.n && d.err == nil; {
		rest := row.n - k
		room := int(math.Floor((d.bottom - d.y - 2*cellPad) / lh))
		switch {
		case rest <= room:
			d.rowPart(row, k, rest, widths, left, lh)
			k = row.n
		case d.y > pageTop && (room < 1 || k == 0 && rest <= perPage):
			// Start the row (or go on with it) on a fresh page.
			newPage()
		default:
			room = max(room, 1)
			d.rowPart(row, k, room, widths, left, lh)
			k += room
			if k < row.n {
				newPage()
			}
		}
	}
}

// rowPart draws lines [from, from+count) of each cell of row at d.y, with
// the cell borders around them, and moves d.y below.
func (d *doc) rowPart(row *tableRow, from, count int, widths []float64, left, lh float64) {
	h := rowHeight(count, lh)
	x := left
	d.pdf.SetStrokeColor(pdfwrite.Color{170, 170, 170})
	d.pdf.SetLineWidth(0.5)
	paint := pdfwrite.Stroke
	if row.header {
		d.pdf.SetFillColor(pdfwrite.Color{236, 236, 236})
		paint |= pdfwrite.Fill
	}
	for c, w := range widths {
		d.pdf.Rect(x, d.y, w, h, paint)
		if c < len(row.cells) {
			cl := row.cells[c]
			for j := from; j < from+count && j < len(cl.lines); j++ {
				l := cl.lines[j]
				lx := x + cellPad
				switch cl.align {
				case east.AlignRight:
					lx = x + w - cellPad - l.w
				case east.AlignCenter:
					lx = x + (w-l.w)/2
				}
				top := d.y + cellPad + float64(j-from)*lh
				d.drawLine(l, lx, top+cellSize*0.93+(lh-cellSize*1.17)/2, cellSize)
			}
		}
		x += w
	}
	d.pdf.SetStrokeColor(black)
	d.y += h
}

// columnWidths shares width among the columns: each gets its content's
// width when all fit, and otherwise at least its longest word (within
// reason) plus a share of the rest in proportion to its content.
func columnWidths(rows []tableRow, cols int, width float64) []float64 {
	natural := make([]float64, cols)
	least := make([]float64, cols)
	capWord := math.Max(width/float64(cols), 40)
	for _, r := range rows {
		for c, cl := range r.cells {
			line, longest := 0.0, 0.0
			for _, w := range cl.words {
				line += w.space + w.w
				longest = math.Max(longest, w.w)
			}
			natural[c] = math.Max(natural[c], line+2*cellPad)
			least[c] = math.Max(least[c], math.Min(longest, capWord)+2*cellPad)
		}
	}
	out := make([]float64, cols)
	sumNat, sumLeast := 0.0, 0.0
	for c := range cols {
		natural[c] = math.Max(natural[c], 2*cellPad+8)
		least[c] = math.Max(least[c], 2*cellPad+8)
		sumNat += natural[c]
		sumLeast += least[c]
	}
	switch {
	case sumNat <= width:
		for c := range cols {
			out[c] = natural[c] * width / sumNat
		}
	case sumLeast >= width:
		for c := range cols {
			out[c] = least[c] * width / sumLeast
		}
	default:
		spare, want := width-sumLeast, sumNat-sumLeast
		for c := range cols {
			out[c] = least[c] + spare*(natural[c]-least[c])/want
		}
	}
	return out
}
