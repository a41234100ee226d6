package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/plugins/sdk"
	sdkevents "github.com/paperflow/paperflow/plugins/sdk/events"
	"github.com/paperflow/paperflow/plugins/sdk/sdktest"
	ex "github.com/paperflow/paperflow/plugins/template/internal/examplefiles"
)

// memHost is sdktest's in-memory Host whose PutDocument can be made to
// fail.
type memHost struct {
	*sdktest.Host
	fail error
}

func (h *memHost) PutDocument(ctx context.Context, name, mimetype string, data []byte) (sdk.Document, error) {
	if h.fail != nil {
		return sdk.Document{}, h.fail
	}
	return h.Host.PutDocument(ctx, name, mimetype, data)
}

// get returns a stored document's bytes.
func (h *memHost) get(id string) []byte {
	_, data, _ := h.GetDocument(context.Background(), id)
	return data
}

// configure makes a block for with, relative to dir (the test's folder
// when empty).
func configure(t testing.TB, dir string, with map[string]any) (*Block, *memHost, error) {
	t.Helper()
	raw, _ := json.Marshal(with)
	h := &memHost{Host: sdktest.NewHost()}
	b := &Block{}
	err := b.Configure(context.Background(), sdk.Config{Workflow: "test", BlockID: "docs", With: raw, WorkflowDir: dir, Host: h})
	return b, h, err
}

func mustConfigure(t testing.TB, dir string, with map[string]any) (*Block, *memHost) {
	t.Helper()
	b, h, err := configure(t, dir, with)
	if err != nil {
		t.Fatalf("configure: %v", err)
	}
	return b, h
}

// people reads examples/data/people.csv as items.
func people(t testing.TB) []sdk.Item {
	t.Helper()
	f, err := os.Open("../../examples/data/people.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var items []sdk.Item
	for i, rec := range recs[1:] {
		fields := map[string]any{}
		for j, h := range recs[0] {
			fields[h] = rec[j]
		}
		items = append(items, item(t, fmt.Sprint(i+1), fields))
	}
	return items
}

func item(t testing.TB, id string, fields map[string]any) sdk.Item {
	it, err := sdk.NewItem("test:"+id, fields)
	if err != nil {
		t.Fatal(err)
	}
	it.ID, it.RunID = id, "run-1"
	return it
}

// withConfig sets the per-item resolved configuration, as the host does.
func withConfig(it sdk.Item, cfg map[string]any) sdk.Item {
	it.RawConfig, _ = json.Marshal(cfg)
	return it
}

var validator = sync.OnceValues(events.NewValidator)

// checkEvents validates each result's DOCUMENTS_CREATED event against the
// published JSON Schema.
func checkEvents(t *testing.T, results []sdk.Result) {
	t.Helper()
	v, err := validator()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil {
			continue
		}
		if len(r.Events) != 1 || r.Events[0].Type != "DOCUMENTS_CREATED" {
			t.Fatalf("result %d: events %+v", i, r.Events)
		}
		_, raw, err := events.New(events.Metadata{Workflow: "test", RunID: "run-1", ItemID: fmt.Sprint(i + 1), BlockID: "docs", CreatedAt: time.Now()},
			events.DocumentsCreated, json.RawMessage(r.Events[0].Data))
		if err == nil {
			err = v.Validate(raw)
		}
		if err != nil {
			t.Errorf("result %d: event does not validate: %v\n%s", i, err, r.Events[0].Data)
		}
		docs, _ := r.Outputs["documents"].([]sdkevents.Document)
		if len(docs) != len(r.Documents) || len(docs) == 0 {
			t.Errorf("result %d: outputs %v, documents %v", i, r.Outputs, r.Documents)
		}
	}
}

// pdfText extracts a PDF's text with poppler's pdftotext, a reader that
// shares no code with the writer.
func pdfText(t testing.TB, pdf []byte, password string) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext (poppler-utils) is not installed: cannot check the PDF with an independent reader")
	}
	file := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(file, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-enc", "UTF-8"}
	if password != "" {
		args = append(args, "-upw", password)
	}
	out, err := exec.Command(bin, append(args, file, "-")...).CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

func TestMarkdownLetter(t *testing.T) {
	b, h := mustConfigure(t, "../../examples/templates", map[string]any{"template": "letter.md", "name": "Letter {{Last Name}}"})
	items := people(t)
	for i := range items {
		var f map[string]any
		json.Unmarshal(items[i].RawFields, &f)
		items[i] = withConfig(items[i], map[string]any{"template": "letter.md", "name": "Letter " + f["Last Name"].(string)})
	}
	results := b.Process(context.Background(), items)
	checkEvents(t, results)
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i+1, r.Err)
		}
		d := r.Documents[0]
		if d.Mimetype != "application/pdf" || !strings.HasPrefix(d.Name, "Letter ") || !strings.HasSuffix(d.Name, ".pdf") {
			t.Errorf("item %d: document %+v", i+1, d)
		}
		var f map[string]string
		json.Unmarshal(items[i].RawFields, &f)
		text := pdfText(t, h.get(d.ID), "")
		for _, want := range []string{f["First Name"] + " " + f["Last Name"], f["Company"], f["Email"], "Terms"} {
			if !strings.Contains(text, want) {
				t.Errorf("item %d: PDF text lacks %q:\n%s", i+1, want, text)
			}
		}
		if strings.Contains(text, "{{") && !strings.Contains(string(items[i].RawFields), "{{") {
			t.Errorf("item %d: unrendered tag in %s", i+1, text)
		}
	}
	// The rows the issue names, checked by name.
	all := ""
	for _, r := range results {
		all += pdfText(t, h.get(r.Documents[0].ID), "")
	}
	for _, want := range []string{"Zoë Ångström", "Łukasz Nowak", "€3,400.00", "10 March 2026", "{{Email}} Consulting", `Café "El Sol" SL`, "Faktura VAT"} {
		if !strings.Contains(all, want) {
			t.Errorf("no PDF shows %q", want)
		}
	}
}

func TestDocxInvoice(t *testing.T) {
	b, h := mustConfigure(t, "../../examples/templates", map[string]any{"template": "invoice.docx", "name": "Invoice {{Last Name}}"})
	items := people(t)
	items[1] = withConfig(items[1], map[string]any{"name": "Invoice Ångström/../x"})
	var f map[string]any
	json.Unmarshal(items[2].RawFields, &f)
	f["Items"] = `[{"description":"Pallet wrap","quantity":6,"unit_price":39.9}]`
	items[2] = item(t, "3", f)
	results := b.Process(context.Background(), items)
	checkEvents(t, results)
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i+1, r.Err)
		}
		if d := r.Documents[0]; d.Mimetype != "application/vnd.openxmlformats-officedocument.wordprocessingml.document" || !strings.HasSuffix(d.Name, ".docx") {
			t.Errorf("item %d: %+v", i+1, d)
		}
	}
	if got := results[1].Documents[0].Name; got != "Invoice Ångström-.-x.docx" {
		t.Errorf("name not cleaned: %q", got)
	}
	doc := docxText(t, h.get(results[2].Documents[0].ID))
	for _, want := range []string{"Dear Łukasz,", "Pallet wrap", "39.90", "Faktura VAT", "Wisła Logistics"} {
		if !strings.Contains(doc, want) {
			t.Errorf("invoice lacks %q:\n%s", want, doc)
		}
	}
	if doc := docxText(t, h.get(results[1].Documents[0].ID)); !strings.Contains(doc, "Dear Zoë,") || !strings.Contains(doc, "Services as agreed") {
		t.Errorf("invoice 2:\n%s", doc)
	}
}

// docxText reopens a .docx and returns the text of its XML parts.
func docxText(t testing.TB, data []byte) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	var b strings.Builder
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, "word/") || !strings.HasSuffix(f.Name, ".xml") {
			continue
		}
		rc, _ := f.Open()
		raw, _ := io.ReadAll(rc)
		rc.Close()
		inT := false
		for _, tok := range strings.SplitAfter(string(raw), ">") {
			text, tag, _ := strings.Cut(tok, "<")
			if inT {
				b.WriteString(strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(text))
			}
			switch {
			case strings.HasPrefix(tag, "w:t>") || strings.HasPrefix(tag, "w:t "):
				inT = true
			case strings.HasPrefix(tag, "/w:t>"):
				inT = false
			case strings.HasPrefix(tag, "/w:p>"):
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

func TestFormFill(t *testing.T) {
	b, h := mustConfigure(t, "../../examples/templates", map[string]any{"template": "form.pdf", "name": "Form {{Last Name}}"})
	items := people(t)
	results := b.Process(context.Background(), items)
	checkEvents(t, results)
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i+1, r.Err)
		}
		var f map[string]string
		json.Unmarshal(items[i].RawFields, &f)
		text := pdfText(t, h.get(r.Documents[0].ID), "")
		for _, want := range []string{f["First Name"], f["Last Name"], f["Company"], f["Country"]} {
			if !strings.Contains(text, want) {
				t.Errorf("item %d: form lacks %q:\n%s", i+1, want, text)
			}
		}
	}

	// A value for a field the form does not have fails that item only.
	bad := item(t, "9", map[string]any{"First Name": "Ada", "Nickname": "Countess"})
	res := b.Process(context.Background(), []sdk.Item{items[0], bad})
	if res[0].Err != nil {
		t.Errorf("good item failed: %v", res[0].Err)
	}
	if res[1].Err == nil || !strings.Contains(res[1].Err.Error(), `the form has no field "Nickname"`) {
		t.Errorf("unknown field: %v", res[1].Err)
	}

	// fields: maps names and values; flatten removes the fields.
	b, h = mustConfigure(t, "../../examples/templates", map[string]any{
		"template": "form.pdf", "flatten": true,
		"fields": map[string]any{"First Name": "{{First Name}}", "Company": "{{Company}} ({{Country}})", "Paid": "yes"},
	})
	it := withConfig(items[2], map[string]any{"fields": map[string]any{"First Name": "Łukasz", "Company": "Wisła Logistics (Poland)", "Paid": "yes"}})
	res = b.Process(context.Background(), []sdk.Item{it})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	pdf := h.get(res[0].Documents[0].ID)
	if text := pdfText(t, pdf, ""); !strings.Contains(text, "Łukasz") || !strings.Contains(text, "Wisła Logistics (Poland)") {
		t.Errorf("flattened form: %s", text)
	}
	if bytes.Contains(pdf, []byte("/AcroForm")) {
		t.Error("flattened form still has an AcroForm")
	}
	if _, _, err := configure(t, "../../examples/templates", map[string]any{"template": "form.pdf", "fields": map[string]any{"Nick": "x"}}); err == nil || !strings.Contains(err.Error(), `has no field "Nick"`) {
		t.Errorf("mapping to a missing form field: %v", err)
	}
}

func TestPasswordAndOutputDir(t *testing.T) {
	out := t.TempDir()
	b, h := mustConfigure(t, "../../examples/templates", map[string]any{"template": "letter.md", "password": "{{ .secrets.PDF }}", "output_dir": out})
	items := people(t)[:3]
	items[0] = withConfig(items[0], map[string]any{"password": "s3cret"})
	items[1] = withConfig(items[1], map[string]any{"password": ""})
	res := b.Process(context.Background(), items)
	if res[2].Err == nil || !strings.Contains(res[2].Err.Error(), "unresolved") {
		t.Errorf("password left as a tag: %v", res[2].Err)
	}
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if res[1].Err == nil || !strings.Contains(res[1].Err.Error(), "password came out empty") {
		t.Errorf("empty password: %v", res[1].Err)
	}
	if text := pdfText(t, h.get(res[0].Documents[0].ID), "s3cret"); !strings.Contains(text, "Ada Lovelace") {
		t.Errorf("decrypted text: %s", text)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(files) != 1 || filepath.Base(files[0]) != "letter 1.pdf" {
		t.Errorf("output_dir holds %v, want [letter 1.pdf]", files)
	}
}

func TestConfigureErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bad.md", []byte("# Hi\n\nDear {{First Name | nosuchhelper}}\n"))
	write("unclosed.md", []byte("Dear {{First Name\n"))
	write("secret.md", []byte("Key {{ .secrets.KEY }}\n"))
	write("image.md", []byte("![x](missing.png)\n"))
	write("corrupt.docx", []byte("PK\x03\x04 this is not really a zip"))
	write("badtag.docx", ex.Docx{Body: ex.P(ex.R("Hello {{#if X}} no close"))}.Bytes())
	write("plain.pdf", []byte("%PDF-1.4\n%%EOF\n"))
	write("notes.txt", []byte("x"))
	for _, c := range []struct {
		with map[string]any
		want string
	}{
		{map[string]any{}, "with.template is required"},
		{map[string]any{"template": "nope.md"}, "nope.md: no such file or directory"},
		{map[string]any{"template": "notes.txt"}, "notes.txt: unknown template kind"},
		{map[string]any{"template": "bad.md"}, "template bad.md:3:"},
		{map[string]any{"template": "unclosed.md"}, `template unclosed.md:1:6: unclosed tag "{{First Name"`},
		{map[string]any{"template": "secret.md"}, "secrets are not available inside template files"},
		{map[string]any{"template": "image.md"}, "missing.png"},
		{map[string]any{"template": "corrupt.docx"}, "template corrupt.docx: not a Word .docx file"},
		{map[string]any{"template": "badtag.docx"}, "template badtag.docx: unclosed section"},
		{map[string]any{"template": "plain.pdf"}, "template plain.pdf: not a readable PDF"},
		{map[string]any{"template": "bad.md", "formats": []string{"docx"}}, "formats: docx needs a .docx template"},
		{map[string]any{"template": "bad.md", "missing": "maybe"}, ""},
		{map[string]any{"template": "badtag.docx", "password": "x"}, "password protects PDF files"},
		{map[string]any{"template": "image.md", "flatten": true}, ""},
	} {
		_, _, err := configure(t, dir, c.with)
		if err == nil {
			t.Errorf("%v: configured", c.with)
			continue
		}
		if c.want != "" && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v:\n got %v\nwant %q", c.with, err, c.want)
		}
	}
}

func TestDocxToPDFNeedsLibreOffice(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no soffice to be found
	_, _, err := configure(t, "../../examples/templates", map[string]any{"template": "invoice.docx", "formats": []string{"docx", "pdf"}})
	if err == nil || err.Error() != noSoffice {
		t.Fatalf("got %v, want %q", err, noSoffice)
	}
}

func TestDocxToPDF(t *testing.T) {
	if testing.Short() {
		t.Skip("starts LibreOffice")
	}
	if _, err := exec.LookPath("soffice"); err != nil {
		t.Skip("LibreOffice (soffice) is not installed: PDF from .docx cannot be tested here")
	}
	b, h := mustConfigure(t, "../../examples/templates", map[string]any{"template": "invoice.docx", "formats": []string{"docx", "pdf"}})
	t.Cleanup(closer(b))
	items := people(t)[:3]
	results := b.Process(context.Background(), items)
	checkEvents(t, results)
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i+1, r.Err)
		}
		if len(r.Documents) != 2 || r.Documents[0].Mimetype != mimeDocx || r.Documents[1].Mimetype != mimePDF {
			t.Fatalf("item %d: documents %+v", i+1, r.Documents)
		}
		var f map[string]string
		json.Unmarshal(items[i].RawFields, &f)
		text := pdfText(t, h.get(r.Documents[1].ID), "")
		if !strings.Contains(text, f["First Name"]+" "+f["Last Name"]) || !strings.Contains(text, "Services as agreed") {
			t.Errorf("item %d: PDF text %s", i+1, text)
		}
	}

	// PDF only: the .docx is an intermediate.
	b, h = mustConfigure(t, "../../examples/templates", map[string]any{"template": "invoice.docx", "formats": []string{"pdf"}, "password": "pw"})
	t.Cleanup(closer(b))
	res := b.Process(context.Background(), items[2:3])
	if res[0].Err != nil || len(res[0].Documents) != 1 || res[0].Documents[0].Mimetype != mimePDF {
		t.Fatalf("pdf only: %+v", res[0])
	}
	if text := pdfText(t, h.get(res[0].Documents[0].ID), "pw"); !strings.Contains(text, "Dear Łukasz,") {
		t.Errorf("pdf only: %s", text)
	}
}

// closer removes the LibreOffice profiles of a block.
func closer(b *Block) func() {
	conv := b.office
	return func() { conv.Close() }
}

func TestBadItems(t *testing.T) {
	b, _ := mustConfigure(t, "../../examples/templates", map[string]any{"template": "letter.md"})
	good := people(t)[0]
	var f map[string]any
	json.Unmarshal(good.RawFields, &f)
	variant := func(id, key, value string) sdk.Item {
		g := map[string]any{}
		for k, v := range f {
			g[k] = v
		}
		if key != "" {
			g[key] = value
		}
		return item(t, id, g)
	}
	items := []sdk.Item{
		variant("1", "Company", strings.Repeat("Wolfeschlegelsteinhausenbergerdorff", 3000)),
		variant("2", "Company", "שלום עולם مرحبا بالعالم"),
		variant("3", "First Name", "Emoji 🙂👍🏽👨‍👩‍👧 and \u202eoverride"),
		variant("4", "Company", "**bold** <b>html</b> [link](javascript:alert(1)) {{ .secrets.X }}"),
		item(t, "5", map[string]any{"First Name": "Only"}),
		{ID: "6", Err: "people.csv:7: wrong number of fields"},
	}
	results := b.Process(context.Background(), items)
	for i := 0; i < 4; i++ {
		if results[i].Err != nil {
			t.Errorf("item %d: %v", i+1, results[i].Err)
		}
	}
	if err := results[4].Err; err == nil || !strings.Contains(err.Error(), `template letter.md: unknown field "Company" in {{Company}} at 3:15`) {
		t.Errorf("missing field: %v", err)
	}
	if err := results[5].Err; err == nil || !strings.Contains(err.Error(), "wrong number of fields") {
		t.Errorf("source error: %v", err)
	}
}

func TestMissingBlank(t *testing.T) {
	b, h := mustConfigure(t, "../../examples/templates", map[string]any{"template": "letter.md", "missing": "blank"})
	res := b.Process(context.Background(), []sdk.Item{item(t, "1", map[string]any{"First Name": "Only"})})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if text := pdfText(t, h.get(res[0].Documents[0].ID), ""); !strings.Contains(text, "Dear Only,") {
		t.Errorf("text: %s", text)
	}
}

func TestStoreFailureIsRetryable(t *testing.T) {
	b, h := mustConfigure(t, "../../examples/templates", map[string]any{"template": "letter.md"})
	h.fail = io.ErrUnexpectedEOF
	res := b.Process(context.Background(), people(t)[:1])
	var be *sdk.Error
	if res[0].Err == nil || !errorsAs(res[0].Err, &be) || !be.Retryable {
		t.Fatalf("want a retryable error, got %#v", res[0].Err)
	}
}

func errorsAs(err error, target **sdk.Error) bool {
	e, ok := err.(*sdk.Error)
	if ok {
		*target = e
	}
	return ok
}

func TestCleanName(t *testing.T) {
	long := strings.Repeat("ż", 200)
	for in, want := range map[string]string{
		"Invoice 7":              "Invoice 7",
		"../../etc/passwd":       "etc-passwd",
		"a/b\\c":                 "a-b-c",
		"  spaced \t out  ":      "spaced out",
		"ctl\x00\x1b\u202echars": "ctlchars",
		"..":                     "fallback",
		"":                       "fallback",
		"CON":                    "CON_",
		"Zoë Ångström: <draft>?": "Zoë Ångström- -draft",
		long:                     strings.Repeat("ż", 75),
	} {
		if got := cleanName(in, "fallback"); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMarkdownListFromCSVCell(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "items.md"), []byte("| Item | Price |\n|---|--:|\n{{#each Items}}| {{description}} | {{price | currency \"EUR\"}} |\n{{else}}| none | |\n{{/each}}"), 0o644)
	b, h := mustConfigure(t, dir, map[string]any{"template": "items.md"})
	res := b.Process(context.Background(), []sdk.Item{
		item(t, "1", map[string]any{"items": `[{"description": "Łódź pallets | wrapped", "price": 12.5}, {"description": "**Tape**", "price": "3"}]`}),
		item(t, "2", map[string]any{"items": ""}),
	})
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if text := pdfText(t, h.get(res[0].Documents[0].ID), ""); !strings.Contains(text, "Łódź pallets | wrapped €12.50 **Tape** €3.00") {
		t.Errorf("rows: %s", text)
	}
	if text := pdfText(t, h.get(res[1].Documents[0].ID), ""); !strings.Contains(text, "none") {
		t.Errorf("empty list: %s", text)
	}
}
