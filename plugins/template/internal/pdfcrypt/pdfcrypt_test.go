package pdfcrypt

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"
)

func TestEncryptOpensOnlyWithPassword(t *testing.T) {
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext (poppler-utils) is not installed: cannot check the PDF with an independent reader")
	}
	p := fpdf.New("P", "pt", "A4", "")
	p.AddPage()
	p.SetFont("Helvetica", "", 12)
	p.Text(50, 50, "secret content")
	var buf bytes.Buffer
	if err := p.Output(&buf); err != nil {
		t.Fatal(err)
	}
	out, err := Encrypt(buf.Bytes(), "pässwort 1")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "x.pdf")
	os.WriteFile(file, out, 0o644)
	if got, err := exec.Command(bin, file, "-").CombinedOutput(); err == nil || strings.Contains(string(got), "secret content") {
		t.Fatalf("opened without the password: %s", got)
	}
	got, err := exec.Command(bin, "-upw", "pässwort 1", file, "-").CombinedOutput()
	if err != nil || !strings.Contains(string(got), "secret content") {
		t.Fatalf("with the password: %v %s", err, got)
	}
	if _, err := Encrypt(buf.Bytes(), ""); err == nil {
		t.Error("empty password accepted")
	}
	if _, err := Encrypt([]byte("not a pdf"), "x"); err == nil {
		t.Error("garbage accepted")
	}
}
