// Package mdpdf lays Markdown out as an A4 PDF: headings, paragraphs with
// bold, italic and code, bullet and numbered lists, block quotes, code
// blocks, tables, images (PNG and JPEG next to the template), rules and page
// breaks (a line holding only \pagebreak or ---pagebreak---).
//
// Text is set in the embedded DejaVu fonts (package fonts), so names such as
// "Zoë Ångström" and "Łukasz" come out as written; italics are the upright
// faces slanted, as DejaVu's obliques are, so a document embeds at most
// three faces. Characters DejaVu lacks (Chinese, Japanese, Korean, many
// emoji) are set in fallback fonts found on the machine (fonts.Fallback),
// embedded as subsets like DejaVu, emoji beyond U+FFFF included; a
// character no font has becomes U+FFFD and Render reports it, so the
// caller can warn. Right-to-left words
// are put in visual order, Arabic letters in their isolated forms (there
// is no contextual shaping).
// Nothing in the input makes Render panic or run away: a document longer
// than Options.MaxPages is an error.
//
// Parsing is goldmark's (CommonMark with GitHub tables and strikethrough);
// the layout is written by package pdfwrite, which keeps font subsets and
// pictures made for one document for the next. Raw HTML is not rendered,
// except <br>.
package mdpdf

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"

	"github.com/paperflow/paperflow/plugins/template/fonts"
)

// Options shape a Renderer.
type Options struct {
	// Dir is where image paths in the Markdown resolve; an image outside
	// it is refused.
	Dir string
	// MaxPages bounds a document (default 500).
	MaxPages int
	// Title goes into the PDF's document information.
	Title string
}

// Renderer turns Markdown into PDF. It is safe for concurrent use.
type Renderer struct {
	opts   Options
	md     goldmark.Markdown
	images imageCache
}

// New returns a Renderer.
func New(opts Options) *Renderer {
	if opts.MaxPages <= 0 {
		opts.MaxPages = 500
	}
	for _, f := range []*fonts.Face{fonts.Regular, fonts.Bold, fonts.Mono} {
		if err := f.Err(); err != nil {
			panic(err) // the embedded files are checked by the fonts tests
		}
	}
	return &Renderer{
		opts:   opts,
		md:     goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough)),
		images: imageCache{dir: opts.Dir, byPath: map[string]*image{}},
	}
}

// Check parses src and loads every image it names, so that a template with
// a missing or unreadable image fails when the block is configured rather
// than on the first item. Image paths holding tags are left for Render.
func (r *Renderer) Check(src []byte) error {
	for _, chunk := range splitPages(src) {
		doc := r.md.Parser().Parse(text.NewReader(chunk))
		err := ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
			img, ok := n.(*ast.Image)
			if !entering || !ok {
				return ast.WalkContinue, nil
			}
			dest := unescape(img.Destination)
			if strings.Contains(dest, "{{") {
				return ast.WalkContinue, nil
			}
			_, err := r.images.load(dest)
			return ast.WalkContinue, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ErrTooLong is returned for a document beyond Options.MaxPages.
var ErrTooLong = errors.New("document too long")

// Render lays src out and returns the PDF, and the characters no font
// has (drawn as U+FFFD), in order, each once.
func (r *Renderer) Render(src []byte) (pdf []byte, missing []rune, err error) {
	d := newDoc(r)
	for i, chunk := range splitPages(src) {
		if i > 0 {
			d.newPage()
		}
		root := r.md.Parser().Parse(text.NewReader(chunk), parser.WithContext(parser.NewContext()))
		d.src = chunk
		d.blocks(root, d.left, 0)
		if d.err != nil {
			break
		}
	}
	if d.err != nil {
		return nil, nil, d.err
	}
	out, err := d.pdf.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("write PDF: %w", err)
	}
	for r := range d.missing {
		missing = append(missing, r)
	}
	slices.Sort(missing)
	return out, missing, nil
}

// Page geometry in points: A4 with 20 mm margins.
const (
	pageW, pageH = 595.28, 841.89
	margin       = 56.69
)

// creationDate is fixed so that the same input gives the same bytes.
var creationDate = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// splitPages cuts src at page-break lines outside fenced code blocks.
func splitPages(src []byte) [][]byte {
	var out [][]byte
	start, fence := 0, ""
	for at := 0; at < len(src); {
		end := bytes.IndexByte(src[at:], '\n')
		next := len(src)
		if end >= 0 {
			next = at + end + 1
		}
		line := strings.TrimSpace(string(src[at:next]))
		switch {
		case fence != "":
			if strings.HasPrefix(line, fence) {
				fence = ""
			}
		case strings.HasPrefix(line, "```"):
			fence = "```"
		case strings.HasPrefix(line, "~~~"):
			fence = "~~~"
		case line == `\pagebreak` || line == "---pagebreak---":
			out = append(out, src[start:at])
			start = next
		}
		at = next
	}
	return append(out, src[start:])
}

// imageCache holds the images of one template, loaded once.
type imageCache struct {
	dir    string
	mu     sync.Mutex
	byPath map[string]*image
}
