package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/hosttest"
)

// anchorStyle is how a .docx run hides an anchor, as the README advises.
type anchorStyle string

const (
	visibleText anchorStyle = ""
	// whiteText is the run in white (w:color FFFFFF).
	whiteText anchorStyle = `<w:color w:val="FFFFFF"/>`
	// onePointText is the run at 1 pt (w:sz counts half points).
	onePointText anchorStyle = `<w:sz w:val="2"/><w:szCs w:val="2"/>`
)

// docxRun is a run of text in a style.
type docxRun struct {
	text  string
	style anchorStyle
}

// contractDocx is a minimal Word document, one paragraph per element of
// paras, on A4 with 2 cm margins: what a person writes in Word, with the
// template's {{tags}} and the anchors as text runs.
func contractDocx(t *testing.T, paras ...[]docxRun) []byte {
	t.Helper()
	var body strings.Builder
	for _, p := range paras {
		body.WriteString(`<w:p>`)
		for _, r := range p {
			var text bytes.Buffer
			_ = xml.EscapeText(&text, []byte(r.text))
			body.WriteString(`<w:r><w:rPr><w:rFonts w:ascii="Liberation Sans" w:hAnsi="Liberation Sans"/><w:sz w:val="24"/>` + string(r.style) +
				`</w:rPr><w:t xml:space="preserve">` + text.String() + `</w:t></w:r>`)
		}
		body.WriteString(`</w:p>`)
	}
	const rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
	files := []struct{ name, body string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="` + rel + `officeDocument" Target="word/document.xml"/></Relationships>`},
		{"word/document.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` + body.String() +
			`<w:sectPr><w:pgSz w:w="11906" w:h="16838"/><w:pgMar w:top="1134" w:right="1134" w:bottom="1134" w:left="1134" w:header="567" w:footer="567" w:gutter="0"/></w:sectPr></w:body></w:document>`},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// docxWorkflow makes a PDF of a Word contract with the template block
// (LibreOffice) and asks for Ada's signature on it, the fields placed at
// anchors hidden in the document the two ways the README gives.
const docxWorkflow = `name: docxfields
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: contract
    uses: template
    with: {template: CONTRACT, formats: [pdf], name: "Contract {{Name}}"}
  - id: sign
    uses: signature
    with:
      documents: [contract]
      recipients:
        - email: "{{Email}}"
          name: "{{Name}}"
          fields:
            - {type: signature, anchor: "[sig1]", offset_y: -14, width: 170, height: 28}
            - {type: text, name: title, label: Job title, anchor: "[title]", offset_y: -11, width: 150, height: 16}
`

// TestBrowserFieldsDocx runs csv → template (.docx → PDF by LibreOffice)
// → signature through the real engine and block processes. The anchors
// are hidden in the Word file as the README advises: "[sig1]" in white,
// "[title]" at 1 pt. LibreOffice's PDF keeps both as text, so the fields
// are placed; neither can be seen on the page. Ada sees the pages as
// images with the fields in place at 390 px, fills them in Chromium and
// signs; pdftotext -bbox puts her typed name and title inside the fields'
// boxes (± 5 pt) and pdfsig reports the seal valid.
func TestBrowserFieldsDocx(t *testing.T) {
	if _, err := exec.LookPath("soffice"); err != nil {
		t.Skip("LibreOffice (soffice) not installed")
	}
	env := newHostEnv(t)
	ctx := hosttest.Browser(t, phone)
	dir := t.TempDir()
	contract := filepath.Join(dir, "contract.docx")
	docx := contractDocx(t,
		[]docxRun{{"Employment contract for {{Name}}", visibleText}},
		nil,
		[]docxRun{{"Job title: ", visibleText}, {"[title]", onePointText}, {"______________________", visibleText}},
		nil, nil,
		[]docxRun{{"Employee signature: ", visibleText}, {"[sig1]", whiteText}, {" ______________________", visibleText}},
	)
	if err := os.WriteFile(contract, docx, 0o644); err != nil {
		t.Fatal(err)
	}
	wf := env.load(t, strings.Replace(docxWorkflow, "CONTRACT", contract, 1), "Name,Email\nAda Lovelace,ada@example.com\n")
	sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Succeeded != 1 {
		t.Fatalf("run: %+v", sum)
	}
	env.serveBlock(t, wf, "sign")

	// The anchors are text in LibreOffice's PDF, and hidden.
	req := requestOf(t, env, wf, sum.RunID, "1")
	if len(req.Fields) != 2 || len(req.Fields[0].Places) != 1 || len(req.Fields[1].Places) != 1 {
		t.Fatalf("fields: %+v", req.Fields)
	}
	_, original, err := env.engine.Documents().Get(context.Background(), req.Documents[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	words := pdfWords(t, original)
	sig := phraseOn(t, words, 1, "[sig1]")
	title := phraseOn(t, words, 1, "[title]")
	label := phraseOn(t, words, 1, "Employee signature:")
	page := req.Documents[0].Pages[0]
	ink := shownInk(t, original, 1, page.W, page.H)
	if n := ink(label.XMin, label.YMin, label.XMax, label.YMax); n < 50 {
		t.Errorf("the visible label has %d dark pixels in the page image", n)
	}
	if n := ink(sig.XMin, sig.YMin, sig.XMax, sig.YMax); n != 0 {
		t.Errorf("the white anchor shows: %d dark pixels in its box", n)
	}
	if w, h := title.XMax-title.XMin, title.YMax-title.YMin; w > 4 || h > 2 {
		t.Errorf("the 1 pt anchor is %.1f × %.1f pt, not a speck", w, h)
	}

	ada := env.outboxLinks(t, "ada@example.com")
	if len(ada) != 1 {
		t.Fatalf("invitations to Ada: %d", len(ada))
	}
	signFieldsAt390(t, ctx, ada[0], "Ada Lovelace", map[string]string{"title": "Chief Analyst"}, 2, nil)
	done := ofType(env.published(t, sum.RunID), "SIGNATURES_COMPLETED", "1")
	if len(done) != 1 {
		t.Fatalf("SIGNATURES_COMPLETED events: %d", len(done))
	}
	var data struct {
		Documents []struct{ ID string } `json:"documents"`
	}
	if err := json.Unmarshal(done[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	checkFieldsDrawn(t, env, wf, sum.RunID, "1", data.Documents[0].ID, []drawnField{
		{"[sig1]", "Ada Lovelace", 0, -14, 170, 28},
		{"[title]", "Chief Analyst", 0, -11, 150, 16},
	})
}
