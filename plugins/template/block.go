package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/events"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
	"github.com/paperflow/paperflow/plugins/template/internal/office"
	"github.com/paperflow/paperflow/plugins/template/internal/pdfcrypt"
)

// version is reported by Describe.
const version = "0.1.0"

// noSoffice is the configuration error for PDF from Word without LibreOffice.
const noSoffice = "formats: pdf from a .docx template needs LibreOffice (soffice) on PATH; install it or use a Markdown template"

// Block is the template step. Configure reads and compiles the template
// once; Process renders it for each item, stores the documents with the
// host and reports them in one DOCUMENTS_CREATED event per item.
type Block struct {
	host      sdk.Host
	blockID   string
	with      []byte
	tpl       renderer
	kind      templateKind
	base      string // default document name: the template's name without extension
	docx      bool   // make .docx
	pdf       bool   // make PDF
	password  bool   // protect PDFs; the password comes per item
	namedTags bool   // the name pattern has tags, so names differ per item
	outputDir string
	missing   tags.MissingPolicy
	office    *office.Converter
	workers   int
}

var _ sdk.Step = (*Block)(nil)

// Describe implements sdk.Block: block.json and version.
func (*Block) Describe() sdk.Descriptor { return descriptor }

// Configure implements sdk.Block: it reads and compiles the template, so
// that a missing or broken file, a malformed tag or an impossible format
// stops the workflow before the first item.
func (b *Block) Configure(_ context.Context, c sdk.Config) error {
	var cfg config
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	if cfg.Template == "" {
		return errors.New("template: with.template is required: the .md, .docx or .pdf template, relative to the workflow file")
	}
	path := c.Path(cfg.Template)
	k, err := kindOf(path)
	if err != nil {
		return fmt.Errorf("template: %w", err)
	}
	formats, err := formatsFor(k, cfg.Formats)
	if err != nil {
		return fmt.Errorf("template: %w", err)
	}
	nb := Block{
		host: c.Host, blockID: c.BlockID, with: c.With, kind: k,
		docx:      slices.Contains(formats, "docx"),
		pdf:       slices.Contains(formats, "pdf"),
		password:  cfg.Password != "",
		namedTags: tags.HasTags(cfg.Name),
		base:      cleanName(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), "document"),
		workers:   runtime.GOMAXPROCS(0),
	}
	switch cfg.Missing {
	case "", "error":
		nb.missing = tags.MissingError
	case "blank":
		nb.missing = tags.MissingBlank
	default:
		return fmt.Errorf("template: missing: %q; use error or blank", cfg.Missing)
	}
	if nb.password && !nb.pdf {
		return errors.New("template: password protects PDF files, and this block makes none: add pdf to formats or remove password")
	}
	if k == kindDocx && nb.pdf {
		bin, err := office.Find()
		if err != nil {
			return errors.New(noSoffice)
		}
		nb.office = office.New(bin, max(1, nb.workers/2))
	}
	if nb.tpl, err = loadTemplate(path, k, cfg); err != nil {
		return err // it names the template file
	}
	if cfg.OutputDir != "" {
		nb.outputDir = c.Path(cfg.OutputDir)
		if err := os.MkdirAll(nb.outputDir, 0o755); err != nil {
			return fmt.Errorf("template: output_dir: %w", err)
		}
	}
	if b.office != nil {
		b.office.Close()
	}
	*b = nb
	return nil
}

// made is what rendering made of one item, before it is stored.
type made struct {
	name     string
	password string
	files    []document
	err      error
}

// Process implements sdk.Step. Items render in parallel; .docx files that
// also need a PDF go to LibreOffice together, one run per batch.
func (b *Block) Process(ctx context.Context, items []sdk.Item) []sdk.Result {
	results := make([]sdk.Result, len(items))
	if b.tpl == nil {
		for i := range results {
			results[i].Err = errors.New("template: Process before Configure")
		}
		return results
	}
	out := make([]made, len(items))
	b.parallel(len(items), func(i int) { out[i] = b.render(items[i]) })
	if b.office != nil {
		b.convert(ctx, out)
	}
	if b.password {
		b.parallel(len(items), func(i int) { b.protect(&out[i]) })
	}
	b.parallel(len(items), func(i int) { results[i] = b.store(ctx, items[i], out[i]) })
	return results
}

// parallel runs fn for 0..n-1 on up to b.workers goroutines.
func (b *Block) parallel(n int, fn func(int)) {
	if n == 1 || b.workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(b.workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// render makes the item's documents. A panic in a library becomes the
// item's error: one bad item never takes the others of its batch down.
func (b *Block) render(it sdk.Item) (m made) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "template: item %s: panic: %v\n%s", it.ID, p, debug.Stack())
			m = made{err: fmt.Errorf("template: internal error rendering this item: %v", p)}
		}
	}()
	if it.Err != "" {
		return made{err: errors.New(it.Err)}
	}
	var ic itemConfig
	if err := it.DecodeConfig(b.with, &ic); err != nil {
		return made{err: err}
	}
	fields, err := it.Fields()
	if err != nil {
		return made{err: fmt.Errorf("item %s: %w", it.ID, err)}
	}
	blocks, err := it.Blocks()
	if err != nil {
		return made{err: fmt.Errorf("item %s: %w", it.ID, err)}
	}
	if it.RawConfig == nil && unresolved(ic) {
		return made{err: errors.New("template: the host sent no per-item configuration, so the tags in password or fields are unresolved; refusing to use them as written")}
	}
	m.name = cleanName(stripExt(ic.Name), b.base)
	if b.password {
		if ic.Password == "" {
			return made{err: errors.New("template: password came out empty for this item; refusing to write an unprotected PDF")}
		}
		m.password = ic.Password
	}
	doc, err := b.tpl.render(tags.Scope{Fields: fields, Blocks: blocks, Missing: b.missing}, ic)
	if err != nil {
		return made{err: err}
	}
	m.files = append(m.files, doc) // a .docx made only to become a PDF is replaced by convert
	return m
}

// unresolved reports tags left in the settings that must not be used as
// written: a password or form values.
func unresolved(ic itemConfig) bool {
	if tags.HasTags(ic.Password) {
		return true
	}
	for _, v := range ic.Fields {
		if s, ok := v.(string); ok && tags.HasTags(s) {
			return true
		}
	}
	return false
}

// convert turns the .docx of every item that wants a PDF into one.
func (b *Block) convert(ctx context.Context, out []made) {
	var docs [][]byte
	var who []int
	for i, m := range out {
		if m.err == nil && len(m.files) == 1 {
			docs = append(docs, b.docxOf(m))
			who = append(who, i)
		}
	}
	if len(docs) == 0 {
		return
	}
	pdfs, errs := b.office.ToPDF(ctx, docs)
	for j, i := range who {
		if errs[j] != nil {
			out[i].err = sdk.Retryable(fmt.Errorf("template: convert to PDF: %w", errs[j]))
			continue
		}
		if !b.docx {
			out[i].files = out[i].files[:0]
		}
		out[i].files = append(out[i].files, document{ext: "pdf", mimetype: mimePDF, data: pdfs[j]})
	}
}

func (b *Block) docxOf(m made) []byte { return m.files[0].data }

// protect encrypts the item's PDFs.
func (b *Block) protect(m *made) {
	if m.err != nil {
		return
	}
	for i, f := range m.files {
		if f.ext != "pdf" {
			continue
		}
		enc, err := pdfcrypt.Encrypt(f.data, m.password)
		if err != nil {
			m.err = fmt.Errorf("template: %w", err)
			return
		}
		m.files[i].data = enc
	}
}

// store hands the item's documents to the host and builds its result.
func (b *Block) store(ctx context.Context, it sdk.Item, m made) sdk.Result {
	if m.err != nil {
		return sdk.Result{Err: m.err}
	}
	var res sdk.Result
	var listed []events.Document
	for _, f := range m.files {
		if f.data == nil {
			continue
		}
		file := m.name + "." + f.ext
		if b.host == nil {
			return sdk.Result{Err: errors.New("template: no host to store documents with")}
		}
		d, err := b.host.PutDocument(ctx, file, f.mimetype, f.data)
		if status.Code(err) == codes.ResourceExhausted {
			return sdk.Result{Err: fmt.Errorf("template: store %s: the document is %d bytes, more than the host takes in one piece (%v); make it smaller (fewer or smaller pictures, fewer pages)", file, len(f.data), err)}
		}
		if err != nil {
			return sdk.Result{Err: sdk.Retryable(fmt.Errorf("template: store %s: %w", file, err))}
		}
		if b.outputDir != "" {
			if err := b.copyOut(it, file, f.data); err != nil {
				return sdk.Result{Err: err}
			}
		}
		res.Documents = append(res.Documents, d)
		listed = append(listed, events.Documents([]sdk.Document{d})...)
	}
	ev, err := events.New(events.DocumentsCreatedData{Documents: listed})
	if err != nil {
		return sdk.Result{Err: err}
	}
	res.Events = []sdk.EventData{ev}
	res.Outputs = map[string]any{"documents": listed}
	var warnings []string
	for _, f := range m.files {
		warnings = append(warnings, f.warnings...)
	}
	if len(warnings) > 0 {
		// The result has no warning field: later blocks and the run's
		// outputs see them as {{blocks.<id>.warnings}}.
		res.Outputs["warnings"] = warnings
	}
	return res
}

// copyOut writes a document into output_dir, atomically. Without tags in
// the name pattern every item would get the same name, so the item id is
// added.
func (b *Block) copyOut(it sdk.Item, file string, data []byte) error {
	if !b.namedTags {
		ext := filepath.Ext(file)
		file = cleanName(strings.TrimSuffix(file, ext)+" "+it.ID, "document") + ext
	}
	tmp, err := os.CreateTemp(b.outputDir, ".partial-*")
	if err != nil {
		return fmt.Errorf("template: output_dir: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("template: output_dir: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(b.outputDir, file)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("template: output_dir: %w", err)
	}
	return nil
}
