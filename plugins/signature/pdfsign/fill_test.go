package pdfsign

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"
)

// bboxWord is a word as pdftotext -bbox reports it (top-left origin).
type bboxWord struct {
	Page                   int
	XMin, YMin, XMax, YMax float64
	Text                   string
}

// wordBoxes runs pdftotext -bbox on pdf; it skips the test without
// poppler-utils.
func wordBoxes(t *testing.T, pdf []byte) []bboxWord {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext not installed (apt-get install poppler-utils)")
	}
	path := filepath.Join(t.TempDir(), "f.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-bbox", "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext -bbox: %v", err)
	}
	dec := xml.NewDecoder(bytes.NewReader(out))
	dec.Strict = false
	var words []bboxWord
	page := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "page":
			page++
		case "word":
			w := bboxWord{Page: page}
			for _, a := range se.Attr {
				var f float64
				_, _ = fmtSscan(a.Value, &f)
				switch a.Name.Local {
				case "xMin":
					w.XMin = f
				case "yMin":
					w.YMin = f
				case "xMax":
					w.XMax = f
				case "yMax":
					w.YMax = f
				}
			}
			var text string
			_ = dec.DecodeElement(&text, &se)
			w.Text = text
			words = append(words, w)
		}
	}
	return words
}

func TestFillDrawsValuesInTheirBoxes(t *testing.T) {
	src := fpdf.NewCustom(&fpdf.InitType{UnitStr: "pt", Size: fpdf.SizeType{Wd: 595.28, Ht: 841.89}})
	src.SetFont("Helvetica", "", 12)
	src.AddPage()
	src.Text(72, 72, "Page one")
	src.AddPage()
	src.Text(72, 72, "Page two")
	var buf bytes.Buffer
	if err := src.Output(&buf); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("../fonts/Kristi.ttf")
	if err != nil {
		t.Fatal(err)
	}
	boxes := map[string]Box{"Ada": {100, 400, 180, 40}, "2026-03-14": {350, 600, 100, 18}}
	out, err := Fill(buf.Bytes(), []FilledField{
		{Page: 2, Box: boxes["Ada"], Mark: MarkScript, Text: "Ada"},
		{Page: 2, Box: boxes["2026-03-14"], Mark: MarkText, Text: "2026-03-14"},
		{Page: 1, Box: Box{72, 100, 14, 14}, Mark: MarkCheck, Text: "yes"},
	}, FillFonts{Script: script})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSelfSigned("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(out, s, SignInfo{}); err != nil {
		t.Fatalf("sign the filled PDF: %v", err)
	}
	found := 0
	for _, w := range wordBoxes(t, out) {
		b, ok := boxes[w.Text]
		if !ok {
			continue
		}
		found++
		if w.Page != 2 || w.XMin < b.X-5 || w.XMax > b.X+b.Width+5 || w.YMin < b.Y-5 || w.YMax > b.Y+b.Height+5 {
			t.Errorf("%q drawn at page %d [%.1f %.1f %.1f %.1f], want inside %+v", w.Text, w.Page, w.XMin, w.YMin, w.XMax, w.YMax, b)
		}
	}
	if found != 2 {
		t.Errorf("found %d of the 2 values in the text", found)
	}
	path := filepath.Join(t.TempDir(), "filled.pdf")
	_ = os.WriteFile(path, out, 0o644)
	if fonts, err := exec.Command("pdffonts", path).Output(); err == nil && !strings.Contains(string(fonts), "utf8script") {
		t.Errorf("the script face is not embedded:\n%s", fonts)
	}
}

func fmtSscan(s string, f *float64) (int, error) { return fmt.Sscan(s, f) }
