package docx

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
	ex "github.com/paperflow/paperflow/plugins/template/internal/examplefiles"
)

// parts opens a rendered .docx and returns its XML parts by name, after
// checking that each is well-formed XML.
func parts(t *testing.T, docx []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(docx), int64(len(docx)))
	if err != nil {
		t.Fatalf("output is not a zip: %v", err)
	}
	out := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if strings.HasSuffix(f.Name, ".xml") || strings.HasSuffix(f.Name, ".rels") {
			dec := xml.NewDecoder(bytes.NewReader(b))
			for {
				_, err := dec.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s is not well-formed XML: %v\n%s", f.Name, err, b)
				}
			}
		}
		out[f.Name] = string(b)
	}
	return out
}

var textRE = regexp.MustCompile(`<w:t(?: [^>]*)?>([^<]*)</w:t>|<w:br/>|<w:tab/>|</w:p></w:tc>|</w:tr>|</w:p>`)

// text is the visible text of a part: runs joined, "|" between cells and a
// new line after each paragraph.
func text(xmlPart string) string {
	var b strings.Builder
	for _, m := range textRE.FindAllStringSubmatch(xmlPart, -1) {
		switch m[0] {
		case "<w:br/>", "</w:p>", "</w:tr>":
			b.WriteString("\n")
		case "<w:tab/>":
			b.WriteString("\t")
		case "</w:p></w:tc>":
			b.WriteString("|")
		default:
			b.WriteString(xmlUnescape(m[1]))
		}
	}
	return b.String()
}

func render(t *testing.T, d []byte, fields map[string]any) map[string]string {
	t.Helper()
	tpl, err := Parse(d)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	out, err := tpl.Render(tags.Scope{Fields: fields})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return parts(t, out)
}

var person = map[string]any{
	"First Name": "Zoë", "Last Name": "Ångström", "Email": "zoe@example.com", "Company": "Nordic & <Optics>",
	"Amount": "980.50", "Due Date": "2026-03-05", "Country": "Sweden",
}

func TestInvoiceExample(t *testing.T) {
	p := render(t, ex.Invoice(), person)
	body := text(p["word/document.xml"])
	for _, want := range []string{
		"Billed to: Zoë Ångström, Nordic & <Optics>, Sweden", "Due date: 5 March 2026", "Dear Zoë,",
		"Services as agreed|1|980.50|", "Total||€980.50|",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "{{") || strings.Contains(body, "Faktura") {
		t.Errorf("leftover tags or a section that should be gone:\n%s", body)
	}
	if !strings.Contains(p["word/document.xml"], "Nordic &amp; &lt;Optics&gt;") {
		t.Error("values are not XML-escaped")
	}
	if got := text(p["word/header1.xml"]); !strings.Contains(got, "Nordic & <Optics> · Invoice") {
		t.Errorf("header: %q", got)
	}
	if got := text(p["word/footer1.xml"]); !strings.Contains(got, "quoting zoe@example.com.") {
		t.Errorf("footer: %q", got)
	}
	// The split tag keeps the formatting of the run it starts in.
	if !regexp.MustCompile(`<w:t xml:space="preserve">Dear Zoë</w:t></w:r>` + regexp.QuoteMeta(ex.ProofErr) + `<w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve"></w:t>`).MatchString(p["word/document.xml"]) {
		t.Errorf("split tag not merged into its first run:\n%s", p["word/document.xml"])
	}
}

func TestInvoiceLineItemsAndSections(t *testing.T) {
	f := map[string]any{}
	for k, v := range person {
		f[k] = v
	}
	f["Country"] = "Poland"
	f["Items"] = `[{"description": "Gears", "quantity": 12, "unit_price": 8.5}, {"description": "Cards & <tape>", "quantity": 200, "unit_price": 0.35}]`
	body := text(render(t, ex.Invoice(), f)["word/document.xml"])
	for _, want := range []string{"Gears|12|8.50|", "Cards & <tape>|200|0.35|", "Faktura VAT"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "Services as agreed") {
		t.Errorf("the else row shows although there are items:\n%s", body)
	}
	if strings.Contains(body, "\n\nFaktura") && strings.Contains(body, "{{") {
		t.Errorf("section paragraphs left behind:\n%s", body)
	}
}

func TestListFieldRowRepeats(t *testing.T) {
	d := ex.Docx{Body: ex.Table([]int{4000, 2000},
		ex.Row(ex.B("Item"), ex.B("Price")),
		ex.Row(ex.R("{{items.description}}"), ex.R("{{items.price | currency \"EUR\"}} {{Currency}}")),
		ex.Row(ex.R("{{customer.name}}"), ex.R("{{customer.city}}")),
	)}.Bytes()
	fields := map[string]any{
		"items":    []any{map[string]any{"description": "A", "price": 1.5}, map[string]any{"description": "B", "price": 2}},
		"customer": map[string]any{"name": "Łukasz", "city": "Gdańsk"},
		"Currency": "(EUR)",
	}
	body := text(render(t, d, fields)["word/document.xml"])
	want := "Item|Price|\nA|€1.50 (EUR)|\nB|€2.00 (EUR)|\nŁukasz|Gdańsk|\n"
	if body != want {
		t.Errorf("got\n%q\nwant\n%q", body, want)
	}
	// No entries: no rows. A CSV cell holding the JSON array works too.
	fields["items"] = "[]"
	if body := text(render(t, d, fields)["word/document.xml"]); strings.Contains(body, "€") {
		t.Errorf("empty list rendered rows: %q", body)
	}
	fields["items"] = `[{"description":"C","price":"3"}]`
	if body := text(render(t, d, fields)["word/document.xml"]); !strings.Contains(body, "C|€3.00 (EUR)|") {
		t.Errorf("JSON text list: %q", body)
	}
}

func TestDottedFieldNameRowIsNotAList(t *testing.T) {
	d := ex.Docx{Body: ex.Table([]int{4000}, ex.Row(ex.R("No. {{Inv.No}}")))}.Bytes()
	body := text(render(t, d, map[string]any{"Inv.No": "17"})["word/document.xml"])
	if body != "No. 17|\n" {
		t.Errorf("got %q", body)
	}
}

func TestValuesWithBreaksAndControls(t *testing.T) {
	d := ex.Docx{Body: ex.P(ex.R("A: {{A}}"))}.Bytes()
	p := render(t, d, map[string]any{"A": "one\ntwo\tthree\x00\x1b end {{ .secrets.X }}"})
	body := text(p["word/document.xml"])
	if body != "A: one\ntwo\tthree end {{ .secrets.X }}\n" {
		t.Errorf("got %q", body)
	}
	if !strings.Contains(p["word/document.xml"], "<w:tab/>") {
		t.Error("a tab in a value is not a Word tab")
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]struct {
		doc  []byte
		want string
	}{
		"not a zip":      {[]byte("hello"), "not a Word .docx file"},
		"no document":    {zipOf(map[string]string{"a.txt": "x"}), "no word/document.xml"},
		"broken xml":     {zipOf(map[string]string{"word/document.xml": "<w:document><w:body></w:document>"}), "broken XML"},
		"unclosed tag":   {ex.Docx{Body: ex.P(ex.R("Dear {{First Name"), ex.B(" and more"))}.Bytes(), `unclosed tag "{{First Name and more": add "}}" in the paragraph "Dear {{First Name and more"`},
		"bad section":    {ex.Docx{Body: ex.P(ex.R("{{#if X}}")) + ex.P(ex.R("text"))}.Bytes(), `unclosed section`},
		"bad helper":     {ex.Docx{Body: ex.P(ex.R("{{Amount | bogus}}"))}.Bytes(), `bogus`},
		"literal braces": {ex.Docx{Body: ex.P(ex.R("a }} b"))}.Bytes(), ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(c.doc)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestRenderErrorsNameTheParagraph(t *testing.T) {
	tpl, err := Parse(ex.Docx{Body: ex.P(ex.R("Total: {{Amout}}"))}.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.Render(tags.Scope{Fields: map[string]any{"Amount": "1"}})
	want := `unknown field "Amout" in {{Amout}} (did you mean "Amount"?) (word/document.xml, paragraph "Total: {{Amout}}")`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	_, err = tpl.Render(tags.Scope{Fields: map[string]any{}, Missing: tags.MissingBlank})
	if err != nil {
		t.Fatalf("missing blank: %v", err)
	}
}

func TestLiteralBracesInXMLStayLiteral(t *testing.T) {
	d := ex.Docx{Body: `<w:p><w:pPr><w:pStyle w:val="{{notatag}}"/></w:pPr>` + ex.R("x") + `</w:p>`}.Bytes()
	p := render(t, d, map[string]any{})
	if !strings.Contains(p["word/document.xml"], `w:val="{{notatag}}"`) {
		t.Error("braces in an attribute were treated as a tag")
	}
}

func zipOf(files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, _ := zw.Create(name)
		w.Write([]byte(body))
	}
	zw.Close()
	return buf.Bytes()
}
