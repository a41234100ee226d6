// Package office converts .docx files to PDF with LibreOffice (soffice).
//
// Starting LibreOffice costs about a second, so a Converter never starts
// one per document: a batch of documents goes to one soffice run, which
// converts them all, and at most Workers runs go at once, each with its
// own profile directory that stays between runs (a warm profile starts
// faster than a new one, and two runs must not share one).
package office

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Find returns the path of soffice (or libreoffice) on PATH.
func Find() (string, error) {
	for _, name := range []string{"soffice", "libreoffice"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("LibreOffice (soffice) is not on PATH")
}

// Converter runs soffice with a bounded number of concurrent processes.
type Converter struct {
	bin     string
	dir     string // profiles and scratch files
	slots   chan int
	perDoc  time.Duration
	initErr error
	once    sync.Once
}

// New returns a Converter running at most workers soffice processes.
func New(bin string, workers int) *Converter {
	if workers < 1 {
		workers = 1
	}
	c := &Converter{bin: bin, slots: make(chan int, workers), perDoc: 20 * time.Second}
	for i := 0; i < workers; i++ {
		c.slots <- i
	}
	return c
}

func (c *Converter) init() {
	c.dir, c.initErr = os.MkdirTemp("", "paperflow-soffice-")
}

// Close removes the profiles and scratch files.
func (c *Converter) Close() error {
	if c.dir == "" {
		return nil
	}
	return os.RemoveAll(c.dir)
}

// ToPDF converts each document and returns the PDFs in the same order; a
// document that did not convert has a nil PDF and its error in errs.
func (c *Converter) ToPDF(ctx context.Context, docs [][]byte) (pdfs [][]byte, errs []error) {
	pdfs, errs = make([][]byte, len(docs)), make([]error, len(docs))
	c.once.Do(c.init)
	if c.initErr != nil {
		for i := range errs {
			errs[i] = c.initErr
		}
		return pdfs, errs
	}
	// One batch per free process: split the documents evenly.
	n := min(cap(c.slots), len(docs))
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		var idx []int
		for i := w; i < len(docs); i += n {
			idx = append(idx, i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.batch(ctx, docs, idx, pdfs, errs)
		}()
	}
	wg.Wait()
	return pdfs, errs
}

// batch converts docs[idx...] in one soffice run.
func (c *Converter) batch(ctx context.Context, docs [][]byte, idx []int, pdfs [][]byte, errs []error) {
	fail := func(err error) {
		for _, i := range idx {
			errs[i] = err
		}
	}
	var slot int
	select {
	case slot = <-c.slots:
	case <-ctx.Done():
		fail(ctx.Err())
		return
	}
	defer func() { c.slots <- slot }()

	work, err := os.MkdirTemp(c.dir, "batch-")
	if err != nil {
		fail(err)
		return
	}
	defer os.RemoveAll(work)
	profile := filepath.Join(c.dir, "profile-"+strconv.Itoa(slot))
	args := []string{
		"--headless", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
		"-env:UserInstallation=file://" + filepath.ToSlash(profile),
		"--convert-to", "pdf:writer_pdf_Export", "--outdir", work,
	}
	for _, i := range idx {
		in := filepath.Join(work, "doc"+strconv.Itoa(i)+".docx")
		if err := os.WriteFile(in, docs[i], 0o600); err != nil {
			fail(err)
			return
		}
		args = append(args, in)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(len(idx))*c.perDoc)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "HOME="+profile) // keep LibreOffice out of the real home
	out, err := cmd.CombinedOutput()
	if err != nil && ctx.Err() != nil {
		fail(fmt.Errorf("LibreOffice did not finish converting %d document(s) in time: %w", len(idx), ctx.Err()))
		return
	}
	for _, i := range idx {
		pdf, rerr := os.ReadFile(filepath.Join(work, "doc"+strconv.Itoa(i)+".pdf"))
		switch {
		case rerr == nil && len(pdf) > 0:
			pdfs[i] = pdf
		case err != nil:
			errs[i] = fmt.Errorf("LibreOffice failed: %v: %s", err, clip(out))
		default:
			errs[i] = fmt.Errorf("LibreOffice made no PDF of the document: %s", clip(out))
		}
	}
}

func clip(b []byte) string {
	if len(b) > 300 {
		b = b[len(b)-300:]
	}
	return string(b)
}
