package office

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ex "github.com/paperflow/paperflow/plugins/template/internal/examplefiles"
)

func TestToPDF(t *testing.T) {
	bin, err := Find()
	if err != nil {
		t.Skip("LibreOffice (soffice) is not installed: the .docx → PDF conversion cannot be tested here")
	}
	if testing.Short() {
		t.Skip("starts LibreOffice")
	}
	c := New(bin, 2)
	defer c.Close()
	docs := [][]byte{
		ex.Docx{Body: ex.P(ex.R("first Zoë Ångström"))}.Bytes(),
		[]byte("this is not a docx"),
		ex.Docx{Body: ex.P(ex.R("third Łukasz"))}.Bytes(),
	}
	pdfs, errs := c.ToPDF(context.Background(), docs)
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("errors: %v", errs)
	}
	for i, want := range map[int]string{0: "first Zoë Ångström", 2: "third Łukasz"} {
		if !bytes.HasPrefix(pdfs[i], []byte("%PDF")) {
			t.Fatalf("document %d is not a PDF", i)
		}
		if got := pdfText(t, pdfs[i]); !strings.Contains(got, want) {
			t.Errorf("document %d: text %q lacks %q", i, got, want)
		}
	}
	// LibreOffice imports almost anything as text; what matters is that
	// the batch survives a bad document.
	if errs[1] == nil && !bytes.HasPrefix(pdfs[1], []byte("%PDF")) {
		t.Errorf("document 1: neither an error nor a PDF")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, errs := c.ToPDF(ctx, docs[:1]); errs[0] == nil {
		t.Error("a cancelled conversion reported success")
	}
}

func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext (poppler-utils) is not installed")
	}
	file := filepath.Join(t.TempDir(), "d.pdf")
	os.WriteFile(file, pdf, 0o644)
	out, err := exec.Command(bin, "-enc", "UTF-8", file, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v %s", err, out)
	}
	return string(out)
}
