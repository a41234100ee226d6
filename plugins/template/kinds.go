package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
	"github.com/paperflow/paperflow/plugins/template/internal/docx"
	"github.com/paperflow/paperflow/plugins/template/internal/mdpdf"
	"github.com/paperflow/paperflow/plugins/template/internal/pdfform"
)

// templateKind is what a template file is, by its extension.
type templateKind int

const (
	kindMarkdown templateKind = iota + 1
	kindDocx
	kindForm
)

func (k templateKind) String() string {
	switch k {
	case kindMarkdown:
		return "Markdown"
	case kindDocx:
		return "Word"
	case kindForm:
		return "PDF form"
	}
	return "unknown"
}

func kindOf(path string) (templateKind, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".md", ".markdown":
		return kindMarkdown, nil
	case ".docx":
		return kindDocx, nil
	case ".pdf":
		return kindForm, nil
	}
	return 0, fmt.Errorf("%s: unknown template kind; use a .md (Markdown), .docx (Word) or .pdf (fillable form) file", filepath.Base(path))
}

// Media types of what the block makes.
const (
	mimePDF  = "application/pdf"
	mimeDocx = docx.Mimetype
)

// document is one file made for an item.
type document struct {
	ext      string // "pdf" or "docx"
	mimetype string
	data     []byte
	// warnings say what the document lacks that the item asked for, such
	// as characters no font could draw; the item still succeeds.
	warnings []string
}

// renderer makes an item's primary document: a PDF from Markdown and
// forms, a .docx from Word.
type renderer interface {
	render(s tags.Scope, ic itemConfig) (document, error)
}

// loadTemplate reads and compiles the template once, when the block is
// configured; every mistake in it is reported here, naming the file.
func loadTemplate(path string, k templateKind, cfg config) (renderer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("template %s: %v", path, err)
	}
	base := filepath.Base(path)
	switch k {
	case kindMarkdown:
		if cfg.Fields != nil || cfg.Flatten {
			return nil, fmt.Errorf("template %s: fields and flatten apply to PDF form templates only", base)
		}
		return loadMarkdown(path, data)
	case kindDocx:
		if cfg.Fields != nil || cfg.Flatten {
			return nil, fmt.Errorf("template %s: fields and flatten apply to PDF form templates only", base)
		}
		t, err := docx.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", base, err)
		}
		if err := noSecrets(base, t.Refs()); err != nil {
			return nil, err
		}
		return &docxTemplate{t: t, name: base}, nil
	case kindForm:
		f, err := pdfform.Open(data)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", base, err)
		}
		for name := range cfg.Fields {
			if _, ok := f.Field(name); !ok {
				return nil, fmt.Errorf("template %s: fields: the form has no field %q; its fields are %s", base, name, quoteList(f.Names()))
			}
		}
		return &formTemplate{form: f, name: base, mapped: cfg.Fields != nil, flatten: cfg.Flatten}, nil
	}
	return nil, fmt.Errorf("template %s: unknown kind", base)
}

// noSecrets refuses secrets inside template files: the host resolves
// secrets in `with:` only, so a secret belongs there.
func noSecrets(file string, refs []tags.Ref) error {
	for _, r := range refs {
		if r.Kind == tags.RefSecret {
			return fmt.Errorf("template %s: %s: secrets are not available inside template files; pass the value through with: (for example password: \"{{ .secrets.%s }}\")", file, r.Tag, r.Path)
		}
	}
	return nil
}

// markdownTemplate renders tags on the Markdown source, escaping values
// for Markdown, then lays the result out as PDF.
type markdownTemplate struct {
	name  string
	tpl   *tags.Template
	pdf   *mdpdf.Renderer
	lists []string
}

func loadMarkdown(path string, data []byte) (*markdownTemplate, error) {
	base := filepath.Base(path)
	tpl, err := tags.Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("template %s:%w", base, prefixSpace(err))
	}
	if err := noSecrets(base, tpl.Refs()); err != nil {
		return nil, err
	}
	r := mdpdf.New(mdpdf.Options{Dir: filepath.Dir(path)})
	if err := r.Check(data); err != nil {
		return nil, fmt.Errorf("template %s: %w", base, err)
	}
	return &markdownTemplate{name: base, tpl: tpl, pdf: r, lists: eachTargets(string(data))}, nil
}

// prefixSpace renders a syntax error as " line:col: message".
func prefixSpace(err error) error {
	var se *tags.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%d:%d: %s", se.Line, se.Col, se.Msg)
	}
	return fmt.Errorf(" %w", err)
}

var eachRE = regexp.MustCompile(`\{\{\s*#each\s+([^}|"]+?)\s*\}\}`)

// eachTargets names the lists a template iterates over.
func eachTargets(src string) []string {
	var out []string
	for _, m := range eachRE.FindAllStringSubmatch(src, -1) {
		out = append(out, m[1])
	}
	return out
}

func (m *markdownTemplate) render(s tags.Scope, _ itemConfig) (document, error) {
	s.Fields = decodeLists(s.Fields, m.lists)
	s.Escape = mdpdf.Escape
	src, err := m.tpl.Render(s)
	if err != nil {
		return document{}, fmt.Errorf("template %s: %w", m.name, err)
	}
	pdf, missing, err := m.pdf.Render([]byte(src))
	if err != nil {
		return document{}, fmt.Errorf("template %s: %w", m.name, err)
	}
	doc := document{ext: "pdf", mimetype: mimePDF, data: pdf}
	if len(missing) > 0 {
		doc.warnings = []string{missingWarning(m.name, missing)}
	}
	return doc, nil
}

// missingWarning names the characters no font could draw.
func missingWarning(template string, missing []rune) string {
	var b strings.Builder
	for i, r := range missing {
		if i == 10 {
			fmt.Fprintf(&b, " and %d more", len(missing)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q (U+%04X)", r, r)
	}
	return fmt.Sprintf("template %s: no font has %s, drawn as \uFFFD; install a TrueType font that has them (fonts-droid-fallback for Chinese and Japanese, fonts-symbola for symbols and emoji)", template, b.String())
}

// decodeLists returns fields where each named field holding a JSON array
// as text (a CSV cell) holds the array, so {{#each}} can go through it.
func decodeLists(fields map[string]any, names []string) map[string]any {
	var out map[string]any
	for _, name := range names {
		key, v, ok := tags.Field(fields, name)
		s, isText := v.(string)
		if !ok || !isText || !strings.HasPrefix(strings.TrimSpace(s), "[") {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var list []any
		if dec.Decode(&list) != nil {
			continue // tags will say the field is text, not a list
		}
		if out == nil {
			out = make(map[string]any, len(fields))
			for k, v := range fields {
				out[k] = v
			}
		}
		out[key] = list
	}
	if out == nil {
		return fields
	}
	return out
}

// docxTemplate fills a Word template.
type docxTemplate struct {
	name string
	t    *docx.Template
}

func (d *docxTemplate) render(s tags.Scope, _ itemConfig) (document, error) {
	out, err := d.t.Render(s)
	if err != nil {
		return document{}, fmt.Errorf("template %s: %w", d.name, err)
	}
	return document{ext: "docx", mimetype: mimeDocx, data: out}, nil
}

// formTemplate fills a PDF form: from `fields:` when given, otherwise from
// the item's fields of the same names.
type formTemplate struct {
	name    string
	form    *pdfform.Form
	mapped  bool
	flatten bool
}

func (f *formTemplate) render(s tags.Scope, ic itemConfig) (document, error) {
	src := s.Fields
	if f.mapped {
		src = ic.Fields
	}
	values := make(map[string]string, len(src))
	var unknown []string
	for k, v := range src {
		name, ok := f.form.Field(k)
		if !ok {
			unknown = append(unknown, k)
			continue
		}
		values[name] = text(v)
	}
	if len(unknown) > 0 && s.Missing == tags.MissingError {
		sort.Strings(unknown)
		return document{}, fmt.Errorf("template %s: the form has no field %s (its fields are %s); rename the item's fields, map them with fields:, or set missing: blank to leave them out",
			f.name, quoteList(unknown), quoteList(f.form.Names()))
	}
	pdf, err := f.form.Fill(values, f.flatten)
	if err != nil {
		return document{}, fmt.Errorf("template %s: %w", f.name, err)
	}
	return document{ext: "pdf", mimetype: mimePDF, data: pdf}, nil
}

// text is how a field value goes into a form field.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

func quoteList(names []string) string {
	const max = 12
	q := make([]string, 0, len(names))
	for i, n := range names {
		if i == max {
			q = append(q, fmt.Sprintf("and %d more", len(names)-max))
			break
		}
		q = append(q, fmt.Sprintf("%q", n))
	}
	return strings.Join(q, ", ")
}
