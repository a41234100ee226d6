package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/template/fonts"
	ex "github.com/paperflow/paperflow/plugins/template/internal/examplefiles"
)

// The benchmarks measure one-page documents per second for each template
// kind, each beside the library it is built on doing the same page in a
// loop, measured in the same run:
//
//   - block/…     the block's own path for one item: tags, layout or fill,
//     the file (no host round trip);
//   - baseline/…  the raw library making the same page: fpdf drawing the
//     invoice directly, a zip rewrite with string replacement of the
//     .docx, pdfcpu's FillForm on the form;
//   - process/…   Process on batches of 64 items with every core, the
//     throughput a workflow sees (documents stored in memory).
//
// Compare docs/s of block and baseline of one kind for the ratio.

const benchMarkdown = `![logo](logo.png)

# Invoice {{Number}}

**{{First Name}} {{Last Name}}**  
{{Company}}  
{{Country}}

Dear {{First Name}}, please find your invoice below. Payment is due on {{Due Date | date "2 January 2006"}}.

| Description | Qty | Price |
|:------------|----:|------:|
{{#each items}}| {{description}} | {{quantity}} | {{unit_price | currency "EUR"}} |
{{/each}}| **Total** | | **{{Amount | currency "EUR"}}** |

1. Transfer the amount to IBAN DE00 1234 5678 9012 3456 78.
2. Quote {{Email}} as the reference.

Kind regards,  
*The billing team*
`

var benchItems = []map[string]any{
	{"description": "Difference engine gears", "quantity": 12, "unit_price": 8.5},
	{"description": "Brass punch cards", "quantity": 200, "unit_price": 0.35},
	{"description": "Spectroscope lens", "quantity": 1, "unit_price": 1450},
	{"description": "Pallet wrap, 50 cm", "quantity": 6, "unit_price": 39.9},
	{"description": "Customs paperwork", "quantity": 1, "unit_price": 120},
}

func benchFields() map[string]any {
	items := make([]any, len(benchItems))
	for i, it := range benchItems {
		items[i] = it
	}
	return map[string]any{
		"Number": "2026-0042", "First Name": "Zoë", "Last Name": "Ångström", "Company": "Nordic Optics AB",
		"Country": "Sweden", "Email": "zoe.angstrom@example.com", "Amount": "2100.75", "Due Date": "2026-03-05",
		"Items": items, "items": items,
	}
}

// report adds documents per second to a benchmark's figures.
func report(b *testing.B, docs int, start time.Time) {
	b.ReportMetric(float64(docs)/time.Since(start).Seconds(), "docs/s")
}

func benchBlock(b *testing.B, dir string, with map[string]any, fields map[string]any) {
	b.Helper()
	blk, _ := mustConfigure(b, dir, with)
	it := item(b, "1", fields)
	if m := blk.render(it); m.err != nil {
		b.Fatal(m.err)
	}
	b.Run("block", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			if m := blk.render(it); m.err != nil {
				b.Fatal(m.err)
			}
		}
		report(b, b.N, start)
	})
	b.Run("process", func(b *testing.B) {
		batch := make([]sdk.Item, 64)
		for i := range batch {
			batch[i] = item(b, fmt.Sprint(i+1), fields)
		}
		start, n := time.Now(), 0
		for b.Loop() {
			for _, r := range blk.Process(context.Background(), batch) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
			n += len(batch)
		}
		report(b, n, start)
	})
}

func BenchmarkMarkdownInvoice(b *testing.B) {
	dir := b.TempDir()
	os.WriteFile(filepath.Join(dir, "invoice.md"), []byte(benchMarkdown), 0o644)
	os.WriteFile(filepath.Join(dir, "logo.png"), ex.Logo(), 0o644)
	benchBlock(b, dir, map[string]any{"template": "invoice.md"}, benchFields())
	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		logo := ex.Logo()
		start := time.Now()
		for b.Loop() {
			if _, err := fpdfInvoice(benchFields(), logo); err != nil {
				b.Fatal(err)
			}
		}
		report(b, b.N, start)
	})
}

// fpdfInvoice draws the benchmark invoice with fpdf directly: the same
// fonts, texts, table and picture, placed by hand.
func fpdfInvoice(f map[string]any, logo []byte) ([]byte, error) {
	p := fpdf.New("P", "pt", "A4", "")
	p.SetMargins(56.69, 56.69, 56.69)
	p.SetAutoPageBreak(true, 56.69)
	p.AddUTF8FontFromBytes("sans", "", fonts.Regular.Data)
	p.AddUTF8FontFromBytes("sans", "B", fonts.Bold.Data)
	p.AddPage()
	p.RegisterImageOptionsReader("logo", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(logo))
	p.ImageOptions("logo", 56.69, 56.69, 180, 45, true, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	p.SetFont("sans", "B", 20)
	p.CellFormat(0, 30, "Invoice "+f["Number"].(string), "", 1, "L", false, 0, "")
	p.SetFont("sans", "B", 10.5)
	p.CellFormat(0, 15, f["First Name"].(string)+" "+f["Last Name"].(string), "", 1, "L", false, 0, "")
	p.SetFont("sans", "", 10.5)
	for _, k := range []string{"Company", "Country"} {
		p.CellFormat(0, 15, f[k].(string), "", 1, "L", false, 0, "")
	}
	p.Ln(6)
	p.MultiCell(0, 15, "Dear "+f["First Name"].(string)+", please find your invoice below. Payment is due on 5 March 2026.", "", "L", false)
	p.Ln(6)
	w := []float64{280, 90, 111.9}
	p.SetFont("sans", "B", 10)
	p.SetFillColor(236, 236, 236)
	for i, h := range []string{"Description", "Qty", "Price"} {
		p.CellFormat(w[i], 21.5, h, "1", 0, []string{"L", "R", "R"}[i], true, 0, "")
	}
	p.Ln(-1)
	p.SetFont("sans", "", 10)
	for _, it := range f["items"].([]any) {
		m := it.(map[string]any)
		p.CellFormat(w[0], 21.5, m["description"].(string), "1", 0, "L", false, 0, "")
		p.CellFormat(w[1], 21.5, fmt.Sprint(m["quantity"]), "1", 0, "R", false, 0, "")
		p.CellFormat(w[2], 21.5, fmt.Sprintf("€%.2f", m["unit_price"]), "1", 1, "R", false, 0, "")
	}
	p.SetFont("sans", "B", 10)
	p.CellFormat(w[0], 21.5, "Total", "1", 0, "L", false, 0, "")
	p.CellFormat(w[1], 21.5, "", "1", 0, "R", false, 0, "")
	p.CellFormat(w[2], 21.5, "€2,100.75", "1", 1, "R", false, 0, "")
	p.Ln(6)
	p.SetFont("sans", "", 10.5)
	p.CellFormat(0, 15, "1. Transfer the amount to IBAN DE00 1234 5678 9012 3456 78.", "", 1, "L", false, 0, "")
	p.CellFormat(0, 15, "2. Quote "+f["Email"].(string)+" as the reference.", "", 1, "L", false, 0, "")
	p.Ln(6)
	p.CellFormat(0, 15, "Kind regards,", "", 1, "L", false, 0, "")
	p.TransformBegin() // italics: the regular face slanted, as the block draws them
	p.TransformSkewX(11, p.GetX(), p.GetY()+11)
	p.CellFormat(0, 15, "The billing team", "", 1, "L", false, 0, "")
	p.TransformEnd()
	var out bytes.Buffer
	err := p.Output(&out)
	return out.Bytes(), err
}

func BenchmarkDocx(b *testing.B) {
	benchBlock(b, "../../examples/templates", map[string]any{"template": "invoice.docx"}, benchFields())
	b.Run("baseline", func(b *testing.B) {
		tpl := ex.Invoice()
		zr, err := zip.NewReader(bytes.NewReader(tpl), int64(len(tpl)))
		if err != nil {
			b.Fatal(err)
		}
		// Read once, as the block does: raw bytes of the parts copied as
		// they are, text of the parts with tags.
		type entry struct {
			hdr  zip.FileHeader
			raw  []byte
			text string
		}
		var entries []entry
		for _, f := range zr.File {
			e := entry{hdr: f.FileHeader}
			if strings.HasPrefix(f.Name, "word/") && strings.HasSuffix(f.Name, ".xml") {
				rc, _ := f.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				e.text = string(b)
			} else {
				rc, _ := f.OpenRaw()
				e.raw, _ = io.ReadAll(rc)
			}
			entries = append(entries, e)
		}
		// A mail merge by string replacement: every tag of the example
		// invoice replaced by its value (the rows are not repeated).
		r := strings.NewReplacer(
			"{{Company}}", "Nordic Optics AB", "{{Email}}", "zoe.angstrom@example.com",
			"{{First Name}}", "Zoë", "{{Last Name}}", "Ångström", "{{Country}}", "Sweden",
			"{{Due Date | date \"2 January 2006\"}}", "5 March 2026", "{{Fir", "Zoë", "me}}", "",
			"{{#each Items}}{{description}}", "Gears", "{{quantity}}", "12", "{{unit_price | number 2}}", "8.50",
			"{{else}}", "", "{{Amount | number 2}}{{/each}}", "", "{{Amount | currency \"EUR\"}}", "€2,100.75",
			"{{#if Country == \"Poland\"}}", "", "{{/if}}", "")
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			var out bytes.Buffer
			zw := zip.NewWriter(&out)
			zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
			for _, e := range entries {
				if e.raw != nil {
					hdr := e.hdr
					w, _ := zw.CreateRaw(&hdr)
					w.Write(e.raw)
					continue
				}
				w, _ := zw.CreateHeader(&zip.FileHeader{Name: e.hdr.Name, Method: zip.Deflate})
				io.WriteString(w, r.Replace(e.text))
			}
			if err := zw.Close(); err != nil {
				b.Fatal(err)
			}
		}
		report(b, b.N, start)
	})
}

func BenchmarkForm(b *testing.B) {
	latin := map[string]any{
		"First Name": "Zoë", "Last Name": "Ångström", "Email": "zoe.angstrom@example.com", "Company": "Nordic Optics AB",
		"Amount": "980.50", "Due Date": "2026-03-05", "Country": "Sweden",
	}
	benchBlock(b, "../../examples/templates", map[string]any{"template": "form.pdf"}, latin)
	b.Run("block-unicode", func(b *testing.B) {
		// Values beyond Latin-1 ("Łukasz") get appearances in DejaVu Sans,
		// a path pdfcpu does not offer: there is no baseline for it.
		blk, _ := mustConfigure(b, "../../examples/templates", map[string]any{"template": "form.pdf"})
		f := map[string]any{}
		for k, v := range latin {
			f[k] = v
		}
		f["First Name"], f["Company"] = "Łukasz", "Wisła Logistics"
		it := item(b, "1", f)
		start := time.Now()
		for b.Loop() {
			if m := blk.render(it); m.err != nil {
				b.Fatal(m.err)
			}
		}
		report(b, b.N, start)
	})
	b.Run("baseline", func(b *testing.B) {
		form, err := os.ReadFile("../../examples/templates/form.pdf")
		if err != nil {
			b.Fatal(err)
		}
		var tf []map[string]any
		for _, k := range ex.FormFields {
			tf = append(tf, map[string]any{"name": k, "value": latin[k]})
		}
		data, _ := json.Marshal(map[string]any{"forms": []any{map[string]any{
			"textfield": tf, "combobox": []any{map[string]any{"name": "Country", "value": "Sweden"}},
		}}})
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			var out bytes.Buffer
			if err := api.FillForm(bytes.NewReader(form), bytes.NewReader(data), &out, model.NewDefaultConfiguration()); err != nil {
				b.Fatal(err)
			}
		}
		report(b, b.N, start)
	})
}

// letterFields are the README letter's values for Zoë.
func letterFields() map[string]any {
	return map[string]any{
		"First Name": "Zoë", "Last Name": "Ångström", "Email": "zoe.angstrom@example.com", "Company": "Nordic Optics AB",
		"Amount": "980.50", "Due Date": "2026-03-05", "Country": "Sweden",
	}
}

// BenchmarkMarkdownLetter is the README's letter (two pages, logo, table).
func BenchmarkMarkdownLetter(b *testing.B) {
	benchBlock(b, "../../examples/templates", map[string]any{"template": "letter.md"}, letterFields())
}
