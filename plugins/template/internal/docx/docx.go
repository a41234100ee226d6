// Package docx fills Word (.docx) templates with the tag language of
// package tags.
//
// Tags may stand anywhere in the text of the body, tables, headers,
// footers, footnotes and endnotes. Word often splits what a person typed
// as one tag over several runs (spell checking, an edit in the middle, a
// change of formatting); the text of a paragraph's runs is merged before
// tags are looked for, and the whole tag then lives in the run where it
// starts, with that run's formatting.
//
// Sections may span paragraphs and table rows:
//
//   - a paragraph holding nothing but {{#if …}}, {{else}} or a closing tag
//     disappears, so the section does not leave empty paragraphs behind;
//   - a section opened in a table row and not closed in the same paragraph
//     moves in front of the row, its closing tag behind the row where it
//     stands: a row holding {{#each items}} … {{/each}} repeats once per
//     entry of items, and a row inside {{#if}} … {{/if}} comes and goes;
//   - a row whose tags name fields inside a list, such as
//     {{items.description}} and {{items.amount | currency "EUR"}}, repeats
//     once per entry of items too, without an explicit #each.
//
// A list is a JSON array, either as such in a JSON source or as the text of
// a CSV cell. Values are XML-escaped; a line break in a value becomes a
// line break in the document.
package docx

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// Mimetype is the media type of a .docx file.
const Mimetype = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

// maxPartBytes bounds one XML part of a template (a guard against zip bombs).
const maxPartBytes = 64 << 20

// Template is a parsed .docx template; safe for concurrent use.
type Template struct {
	files []file
	lists listSet
	refs  []tags.Ref
}

// file is one entry of the package.
type file struct {
	hdr  zip.FileHeader
	raw  []byte // compressed bytes, copied as they are
	part *part  // an XML part with tags, rendered per item
}

// part is an XML part compiled into a template.
type part struct {
	name  string
	tpl   *tags.Template
	paras []paraSpan
}

// paraSpan says where a paragraph ended up in the compiled source, so a
// message can quote the paragraph rather than an offset in XML.
type paraSpan struct {
	start, end int
	text       string
}

var templatedPart = regexp.MustCompile(`^word/(document|header\d*|footer\d*|footnotes|endnotes)\.xml$`)

// Parse reads a .docx file and compiles its tags.
func Parse(data []byte) (*Template, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("not a Word .docx file (it must be a zip package): %w", err)
	}
	t := &Template{lists: listSet{seen: map[string]bool{}, rows: map[string]string{}}}
	hasDocument := false
	for _, f := range zr.File {
		if !templatedPart.MatchString(f.Name) {
			rc, err := f.OpenRaw()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
			raw, err := io.ReadAll(rc)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
			t.files = append(t.files, file{hdr: f.FileHeader, raw: raw})
			continue
		}
		hasDocument = hasDocument || f.Name == "word/document.xml"
		src, err := readPart(f)
		if err != nil {
			return nil, err
		}
		p, err := compilePart(f.Name, src, &t.lists)
		if err != nil {
			return nil, err
		}
		t.refs = append(t.refs, p.tpl.Refs()...)
		t.files = append(t.files, file{hdr: f.FileHeader, part: p})
	}
	if !hasDocument {
		return nil, errors.New("no word/document.xml inside: not a Word .docx file")
	}
	return t, nil
}

func readPart(f *zip.File) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxPartBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.Name, err)
	}
	if len(b) > maxPartBytes {
		return "", fmt.Errorf("%s: larger than %d bytes", f.Name, maxPartBytes)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%s: not UTF-8", f.Name)
	}
	return string(b), nil
}

// Refs lists the references of every part's tags.
func (t *Template) Refs() []tags.Ref { return append([]tags.Ref(nil), t.refs...) }

// Lists names the fields the template uses as lists: {{#each}} targets and
// the lists of repeated table rows.
func (t *Template) Lists() []string {
	out := append([]string(nil), t.lists.each...)
	for _, l := range t.lists.rows {
		out = append(out, l)
	}
	return out
}

// Render fills the template for one item. s.Escape is replaced: values are
// escaped for WordprocessingML.
func (t *Template) Render(s tags.Scope) ([]byte, error) {
	fields, err := t.listFields(s.Fields)
	if err != nil {
		return nil, err
	}
	s.Fields, s.Escape = fields, escapeValue
	var out bytes.Buffer
	out.Grow(64 << 10)
	zw := zip.NewWriter(&out)
	zw.RegisterCompressor(zip.Deflate, fastDeflate)
	for i := range t.files {
		f := &t.files[i]
		if f.part == nil {
			hdr := f.hdr
			w, err := zw.CreateRaw(&hdr)
			if err == nil {
				_, err = w.Write(f.raw)
			}
			if err != nil {
				return nil, fmt.Errorf("write %s: %w", f.hdr.Name, err)
			}
			continue
		}
		xml, err := f.part.tpl.Render(s)
		if err != nil {
			return nil, f.part.explain(err)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.hdr.Name, Method: zip.Deflate, Modified: f.hdr.Modified})
		if err == nil {
			_, err = io.WriteString(w, xml)
		}
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", f.hdr.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// deflaters holds compressors between parts: a new one allocates about a
// megabyte, more than filling a template costs.
var deflaters sync.Pool

// fastDeflate compresses a part at the fastest level with a pooled
// compressor.
func fastDeflate(w io.Writer) (io.WriteCloser, error) {
	if fw, ok := deflaters.Get().(*flate.Writer); ok {
		fw.Reset(w)
		return pooledDeflater{fw}, nil
	}
	fw, err := flate.NewWriter(w, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	return pooledDeflater{fw}, nil
}

type pooledDeflater struct{ *flate.Writer }

func (p pooledDeflater) Close() error {
	err := p.Writer.Close()
	deflaters.Put(p.Writer)
	return err
}

// listFields returns fields ready for the template's lists: a list given
// as JSON text (a CSV cell) is decoded, and the hidden list of each
// repeated row is built (see repeatListRows).
func (t *Template) listFields(in map[string]any) (map[string]any, error) {
	if len(t.lists.each) == 0 && len(t.lists.rows) == 0 {
		return in, nil
	}
	out := make(map[string]any, len(in)+len(t.lists.rows))
	for k, v := range in {
		out[k] = v
	}
	for _, name := range t.lists.each {
		if err := decodeList(out, name); err != nil {
			return nil, err
		}
	}
	for hidden, list := range t.lists.rows {
		if err := decodeList(out, list); err != nil {
			return nil, err
		}
		key, v, _ := tags.Field(out, list)
		entries := []any{map[string]any{}}
		switch l := v.(type) {
		case []any:
			entries = make([]any, len(l))
			for i, e := range l {
				entries[i] = map[string]any{key: e}
			}
		case []map[string]any:
			entries = make([]any, len(l))
			for i, e := range l {
				entries[i] = map[string]any{key: e}
			}
		}
		out[hidden] = entries
	}
	return out, nil
}

// decodeList turns a field holding a JSON array as text into the array.
func decodeList(fields map[string]any, name string) error {
	key, v, ok := tags.Field(fields, name)
	if !ok {
		return nil
	}
	s, isText := v.(string)
	if !isText || !strings.HasPrefix(strings.TrimSpace(s), "[") {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var list []any
	if err := dec.Decode(&list); err != nil {
		return fmt.Errorf("field %q is used as a list but is not a JSON array: %v", key, err)
	}
	fields[key] = list
	return nil
}

// explain puts a render error in terms of the document: the tag and the
// paragraph it stands in, instead of a position inside the XML.
func (p *part) explain(err error) error {
	var ue *tags.UnknownRefError
	var re *tags.RenderError
	switch {
	case errors.As(err, &ue):
		what := fmt.Sprintf("unknown %s %q", ue.Ref.Kind, ue.Ref.Path)
		return fmt.Errorf("%s in %s%s%s", what, ue.Ref.Tag, ue.Hint, p.where(ue.Ref.Offset))
	case errors.As(err, &re):
		return fmt.Errorf("%s: %v%s", re.Tag, re.Err, p.where(-1))
	}
	return fmt.Errorf("%s: %w", p.name, err)
}

// where names the part and quotes the paragraph around a source offset.
func (p *part) where(off int) string {
	for _, s := range p.paras {
		if off >= s.start && off < s.end {
			return fmt.Sprintf(" (%s, paragraph %q)", p.name, clip(s.text))
		}
	}
	return " (" + p.name + ")"
}

func clip(s string) string {
	if utf8.RuneCountInString(s) <= 80 {
		return s
	}
	r := []rune(s)
	return string(r[:77]) + "..."
}

// escapeValue makes a value safe inside <w:t>: markup characters are
// escaped, characters XML cannot hold are dropped, and line breaks and
// tabs become Word's own elements.
func escapeValue(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '&' || c == '<' || c == '>' || c >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\n' || r == '\r':
			b.WriteString(`</w:t><w:br/><w:t xml:space="preserve">`)
		case r == '\t':
			b.WriteString(`</w:t><w:tab/><w:t xml:space="preserve">`)
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
