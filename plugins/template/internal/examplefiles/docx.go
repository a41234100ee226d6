// Package examplefiles makes the example templates of examples/templates
// (invoice.docx and form.pdf) from source, so they can be checked and
// remade: `go run ./plugins/template/internal/examplefiles/gen`. The tests
// use the same builders for their own documents.
package examplefiles

import (
	"archive/zip"
	"bytes"
	"strings"
	"time"
)

// Docx is a minimal WordprocessingML package: a body and, optionally, a
// header and a footer. The XML strings are the children of <w:body>,
// <w:hdr> and <w:ftr>.
type Docx struct {
	Body, Header, Footer string
}

const (
	nsW = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"`
	nsR = `xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
)

// modified is the fixed time stamp of every entry, so the bytes depend on
// the content only.
var modified = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Bytes writes the package.
func (d Docx) Bytes() []byte {
	types := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>` +
		`<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>`
	docRels := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`
	sect := ""
	if d.Header != "" {
		types += `<Override PartName="/word/header1.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml"/>`
		docRels += `<Relationship Id="rId1" Type="` + rel + `header" Target="header1.xml"/>`
		sect += `<w:headerReference w:type="default" r:id="rId1"/>`
	}
	if d.Footer != "" {
		types += `<Override PartName="/word/footer1.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.footer+xml"/>`
		docRels += `<Relationship Id="rId2" Type="` + rel + `footer" Target="footer1.xml"/>`
		sect += `<w:footerReference w:type="default" r:id="rId2"/>`
	}
	types += `</Types>`
	docRels += `</Relationships>`
	files := []struct{ name, body string }{
		{"[Content_Types].xml", types},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="` + rel + `officeDocument" Target="word/document.xml"/></Relationships>`},
		{"word/_rels/document.xml.rels", docRels},
		{"word/document.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document ` + nsW + ` ` + nsR + `><w:body>` + d.Body +
			`<w:sectPr>` + sect + `<w:pgSz w:w="11906" w:h="16838"/>` +
			`<w:pgMar w:top="1134" w:right="1134" w:bottom="1134" w:left="1134" w:header="567" w:footer="567" w:gutter="0"/>` +
			`</w:sectPr></w:body></w:document>`},
	}
	if d.Header != "" {
		files = append(files, struct{ name, body string }{"word/header1.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:hdr ` + nsW + ` ` + nsR + `>` + d.Header + `</w:hdr>`})
	}
	if d.Footer != "" {
		files = append(files, struct{ name, body string }{"word/footer1.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:ftr ` + nsW + ` ` + nsR + `>` + d.Footer + `</w:ftr>`})
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: modified})
		if err != nil {
			panic(err) // writing to memory does not fail
		}
		w.Write([]byte(f.body))
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// P is a paragraph of runs.
func P(runs ...string) string { return `<w:p>` + strings.Join(runs, "") + `</w:p>` }

// Styled is a paragraph with a paragraph style property, e.g. centred.
func Styled(ppr string, runs ...string) string {
	return `<w:p><w:pPr>` + ppr + `</w:pPr>` + strings.Join(runs, "") + `</w:p>`
}

// R is a plain run.
func R(text string) string {
	return `<w:r><w:t xml:space="preserve">` + escape(text) + `</w:t></w:r>`
}

// B is a bold run.
func B(text string) string {
	return `<w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">` + escape(text) + `</w:t></w:r>`
}

// Sized is a run with a font size in half points, bold when bold is set.
func Sized(text string, halfPoints string, bold bool) string {
	b := ""
	if bold {
		b = `<w:b/>`
	}
	return `<w:r><w:rPr>` + b + `<w:sz w:val="` + halfPoints + `"/></w:rPr><w:t xml:space="preserve">` + escape(text) + `</w:t></w:r>`
}

// ProofErr is the spell-check mark Word puts between the runs of a word.
const ProofErr = `<w:proofErr w:type="spellStart"/>`

// Table is a table of rows with the given column widths (twentieths of a
// point) and single borders.
func Table(widths []int, rows ...string) string {
	var b strings.Builder
	b.WriteString(`<w:tbl><w:tblPr><w:tblW w:w="0" w:type="auto"/><w:tblBorders>`)
	for _, side := range []string{"top", "left", "bottom", "right", "insideH", "insideV"} {
		b.WriteString(`<w:` + side + ` w:val="single" w:sz="4" w:space="0" w:color="999999"/>`)
	}
	b.WriteString(`</w:tblBorders></w:tblPr><w:tblGrid>`)
	for _, w := range widths {
		b.WriteString(`<w:gridCol w:w="` + itoa(w) + `"/>`)
	}
	b.WriteString(`</w:tblGrid>`)
	for _, r := range rows {
		b.WriteString(r)
	}
	b.WriteString(`</w:tbl>`)
	return b.String()
}

// Row is a table row of cells, each cell a paragraph's runs.
func Row(cells ...string) string {
	var b strings.Builder
	b.WriteString(`<w:tr>`)
	for _, c := range cells {
		b.WriteString(`<w:tc><w:p>` + c + `</w:p></w:tc>`)
	}
	b.WriteString(`</w:tr>`)
	return b.String()
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// Invoice is examples/templates/invoice.docx: an invoice for a row of
// examples/data/people.csv, with line items when the item has a JSON list
// "Items" (description, quantity, unit_price) and one line for Amount
// otherwise. Its greeting has a tag split over three runs, as Word writes
// a tag that was edited after it was typed.
func Invoice() []byte {
	right := `<w:jc w:val="right"/>`
	return Docx{
		Header: Styled(right, R("{{Company}} · Invoice")),
		Footer: Styled(`<w:jc w:val="center"/>`, R("Questions? Write to billing@example.com quoting {{Email}}.")),
		Body: Styled("", Sized("Invoice", "40", true)) +
			P(R("Billed to: "), B("{{First Name}} {{Last Name}}"), R(", {{Company}}, {{Country}}")) +
			P(R("Due date: {{Due Date | date \"2 January 2006\"}}")) +
			// Word split "{{First Name}}" over runs: "{{Fir", a bold "st Na", "me}}".
			P(R("Dear {{Fir"), ProofErr, B("st Na"), R("me}},")) +
			P(R("thank you for your order. Please find the details below.")) +
			Table([]int{6000, 1400, 2200},
				Row(B("Description"), B("Qty"), B("Unit price")),
				Row(R("{{#each Items}}{{description}}"), R("{{quantity}}"), R("{{unit_price | number 2}}")),
				Row(R("{{else}}Services as agreed"), R("1"), R("{{Amount | number 2}}{{/each}}")),
				Row(B("Total"), R(""), B("{{Amount | currency \"EUR\"}}")),
			) +
			P(R("")) +
			P(R("{{#if Country == \"Poland\"}}")) +
			P(R("Faktura VAT: please quote your NIP number with the payment.")) +
			P(R("{{/if}}")) +
			P(R("Kind regards,")) +
			P(R("The billing team")),
	}.Bytes()
}
