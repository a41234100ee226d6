package pdfwrite

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/template/fonts"
)

// poppler runs one of poppler's tools on pdf, a reader independent of the
// writer.
func poppler(t *testing.T, tool string, pdf []byte, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s (poppler-utils) is not installed", tool)
	}
	file := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(file, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	args = append(args, file)
	if tool == "pdftotext" {
		args = append(args, "-")
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", tool, err, out)
	}
	return string(out)
}

func TestTextExtracts(t *testing.T) {
	d := New(Info{Title: "Zoë", Producer: "paperflow"})
	d.AddPage(595.28, 841.89)
	d.Text(50, 100, "Zoë Ångström Łukasz €", TextStyle{Face: fonts.Regular, Size: 12})
	d.Text(50, 130, "bold (and) slanted", TextStyle{Face: fonts.Bold, Size: 12, Slant: 11, Underline: true, Strike: true, Color: Color{20, 70, 160}})
	d.Link(50, 120, 100, 14, "https://example.com/ä(x)")
	d.SetFillColor(Color{236, 236, 236})
	d.SetStrokeColor(Color{170, 170, 170})
	d.Rect(50, 150, 100, 20, Fill|Stroke)
	d.Line(50, 180, 150, 180)
	d.AddPage(595.28, 841.89)
	d.Text(50, 100, "second page", TextStyle{Face: fonts.Mono, Size: 9})
	pdf, err := d.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(poppler(t, "pdftotext", pdf, "-enc", "UTF-8")), " ")
	for _, want := range []string{"Zoë Ångström Łukasz €", "bold (and) slanted", "second page"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q: %q", want, text)
		}
	}
	info := poppler(t, "pdfinfo", pdf)
	if !strings.Contains(strings.Join(strings.Fields(info), " "), "Pages: 2") || !strings.Contains(info, "Zoë") {
		t.Errorf("pdfinfo:\n%s", info)
	}
	if out := poppler(t, "pdffonts", pdf); strings.Count(out, "CID TrueType") != 3 {
		t.Errorf("want three embedded subsets:\n%s", out)
	}
}

// The same glyphs in another document reuse the cached subset; the
// output is the same bytes.
func TestDeterministic(t *testing.T) {
	make := func() []byte {
		d := New(Info{Producer: "paperflow"})
		d.AddPage(100, 100)
		d.Text(10, 50, "same text", TextStyle{Face: fonts.Regular, Size: 10})
		b, err := d.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if a, b := make(), make(); !bytes.Equal(a, b) {
		t.Error("two documents with the same content differ")
	}
}

func TestImages(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 30, 10))
	for x := range 30 {
		for y := range 10 {
			img.Set(x, y, color.NRGBA{uint8(x * 8), 80, 160, uint8(100 + x)})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	pic, err := NewImage(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if pic.Width != 30 || pic.Height != 10 || pic.mask == nil {
		t.Fatalf("picture %dx%d, mask %v", pic.Width, pic.Height, pic.mask != nil)
	}
	d := New(Info{})
	d.AddPage(200, 200)
	d.Image(pic, 10, 10, 90, 30)
	d.Image(pic, 10, 100, 90, 30)
	pdf, err := d.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if out := poppler(t, "pdfimages", pdf, "-list"); strings.Count(out, "smask") != 2 {
		t.Errorf("pdfimages:\n%s", out)
	}
	if n := bytes.Count(pdf, []byte("/Subtype /Image")); n != 2 {
		t.Errorf("%d image objects, want the picture and its mask once", n)
	}
	if _, err := NewImage([]byte("not a picture")); err == nil {
		t.Error("a file that is no picture was taken")
	}
}

func TestAppendNum(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1: "1", -2.5: "-2.5", 595.28: "595.28", 0.1234: "0.123", 10.0004: "10", -0.0001: "0"} {
		if got := string(appendNum(nil, v)); got != want {
			t.Errorf("appendNum(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestSizeEstimate: a document's buffer is allocated once, at the size
// estimated before writing, for documents of one or more pages, fonts,
// pictures and links.
func TestSizeEstimate(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 40, 40))
	for x := range 40 {
		img.Set(x, x, color.NRGBA{200, 10, uint8(x), uint8(5 * x)})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	pic, err := NewImage(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		draw func(d *Doc)
	}{
		{"empty", func(*Doc) {}},
		{"letter", func(d *Doc) {
			d.AddPage(595.28, 841.89)
			for i := range 40 {
				d.Text(50, float64(20+i*18), strings.Repeat("Invoice for Zoë Ångström, 980.50 EUR. ", 2), TextStyle{Face: fonts.Regular, Size: 10})
			}
			d.Text(50, 800, "Kind regards", TextStyle{Face: fonts.Bold, Size: 10})
			d.Image(pic, 50, 10, 40, 40)
			d.Link(50, 780, 100, 12, "https://example.com/pay")
			d.AddPage(595.28, 841.89)
			d.Text(50, 100, "Terms", TextStyle{Face: fonts.Mono, Size: 9})
		}},
	} {
		d := New(Info{Title: tc.name, Producer: "paperflow"})
		tc.draw(d)
		var w writer
		if err := d.write(&w); err != nil {
			t.Fatal(err)
		}
		subs := make([]*subset, len(d.fonts))
		for i, fu := range d.fonts {
			if subs[i], err = fu.subset(); err != nil {
				t.Fatal(err)
			}
		}
		if est := d.sizeEstimate(subs, len(w.offsets)); cap(w.buf) != est {
			t.Errorf("%s: %d bytes written into a buffer grown to %d, estimated %d", tc.name, len(w.buf), cap(w.buf), est)
		}
	}
}
