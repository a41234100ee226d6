package pdfview

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"
)

// testPDF has two A4 pages; "Sign here:" is written on page 2 with its
// baseline at (100, 500) from the top left, in 12 pt Helvetica, and once
// more at (100, 700).
func testPDF(t testing.TB) []byte {
	t.Helper()
	pdf := fpdf.NewCustom(&fpdf.InitType{UnitStr: "pt", Size: fpdf.SizeType{Wd: 595.28, Ht: 841.89}})
	pdf.SetFont("Helvetica", "", 12)
	pdf.AddPage()
	pdf.Text(72, 72, "Contract between the parties")
	pdf.AddPage()
	pdf.Text(100, 500, "Sign here:")
	pdf.Text(100, 700, "Sign here:")
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestInspectFindsAnchors(t *testing.T) {
	pdf := testPDF(t)
	start := time.Now()
	l, err := Inspect(context.Background(), pdf, []string{"Sign here:", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first Inspect (PDFium start included): %s", time.Since(start))
	if len(l.Pages) != 2 || math.Abs(l.Pages[0].Width-595.28) > 0.5 || math.Abs(l.Pages[1].Height-841.89) > 0.5 {
		t.Fatalf("pages: %+v", l.Pages)
	}
	got := l.Anchors["Sign here:"]
	if len(got) != 2 || len(l.Anchors["absent"]) != 0 {
		t.Fatalf("anchors: %+v", l.Anchors)
	}
	for i, wantBaseline := range []float64{500, 700} {
		m := got[i]
		// The glyphs sit on the baseline: the box ends near it and starts
		// about a cap height above.
		if m.Page != 2 || math.Abs(m.Box.X-100) > 2 || math.Abs(m.Box.Y+m.Box.Height-wantBaseline) > 3 || m.Box.Height < 6 || m.Box.Height > 14 || m.Box.Width < 40 || m.Box.Width > 70 {
			t.Errorf("occurrence %d: %+v", i+1, m)
		}
	}
	start = time.Now()
	const n = 20
	for range n {
		if _, err := Inspect(context.Background(), pdf, []string{"Sign here:"}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("Inspect, warm: %s per document of 2 pages", time.Since(start)/n)
}

func TestRender(t *testing.T) {
	pdf := testPDF(t)
	if _, err := Render(context.Background(), pdf, 1, 100); err != nil { // warm
		t.Fatal(err)
	}
	for _, w := range []int{400, 800, 1200} {
		start := time.Now()
		raw, err := Render(context.Background(), pdf, 2, w)
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		img, err := png.DecodeConfig(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if img.Width != w || math.Abs(float64(img.Height)-float64(w)*841.89/595.28) > 2 {
			t.Errorf("width %d: image %dx%d", w, img.Width, img.Height)
		}
		t.Logf("render %d px wide: %s, %d bytes", w, took, len(raw))
	}
	if _, err := Render(context.Background(), pdf, 3, 400); err == nil {
		t.Error("page 3 of 2 rendered")
	}
	if _, err := Render(context.Background(), []byte("%PDF-1.4 junk"), 1, 400); err == nil {
		t.Error("junk rendered")
	}
}
