package mdpdf

import (
	"bytes"
	"errors"
	stdimage "image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pdfText extracts the text of a PDF with poppler's pdftotext, a reader
// independent of the code that wrote it.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext (poppler-utils) is not installed: cannot check the PDF with an independent reader")
	}
	file := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(file, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-enc", "UTF-8", file, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	return string(out)
}

// pages counts the pages with poppler's pdfinfo, and checks they are A4.
func pages(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdfinfo")
	if err != nil {
		t.Skip("pdfinfo (poppler-utils) is not installed")
	}
	file := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(file, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, file).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfinfo: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "(A4)") {
		t.Errorf("pages are not A4:\n%s", out)
	}
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("pdfinfo printed no page count:\n%s", out)
	}
	return m[1]
}

// squash folds whitespace, so checks do not depend on where lines break.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func writePictures(t *testing.T, dir string) {
	t.Helper()
	img := stdimage.NewRGBA(stdimage.Rect(0, 0, 120, 40))
	for x := 0; x < 120; x++ {
		for y := 0; y < 40; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 2), 80, 160, 255})
		}
	}
	var p, j bytes.Buffer
	if err := png.Encode(&p, img); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&j, img, nil); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "img"), 0o755)
	os.WriteFile(filepath.Join(dir, "img", "logo.png"), p.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "img", "photo.jpg"), j.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "img", "fake.png"), []byte("not a picture"), 0o644)
}

const sample = `# Invoice for Zoë Ångström

Dear **Łukasz** *Nowak*, this is ***both*** and ` + "`code`" + ` and ~~gone~~ and a [link](https://example.com).

![Logo](img/logo.png)

- first bullet
- second bullet
  - nested bullet
1. one
2. two

> quoted text

| Item | Qty | Price |
|:-----|:---:|------:|
| Widget | 2 | €10.00 |
| Gadget with a long description that wraps | 1 | €99.00 |

---

` + "```\ncode line\n```" + `

\pagebreak

Second page ![photo](img/photo.jpg)
`

func TestRenderFeatures(t *testing.T) {
	dir := t.TempDir()
	writePictures(t, dir)
	r := New(Options{Dir: dir})
	if err := r.Check([]byte(sample)); err != nil {
		t.Fatal(err)
	}
	pdf, _, err := r.Render([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	got := squash(pdfText(t, pdf))
	for _, want := range []string{
		"Invoice for Zoë Ångström", "Dear Łukasz Nowak, this is both and code and gone and a link.",
		"• first bullet", "nested bullet", "1. one", "2. two", "quoted text",
		"Item", "Qty", "Price", "Widget", "€10.00", "Gadget with a long", "code line", "Second page",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("text lacks %q:\n%s", want, got)
		}
	}
	if n := pages(t, pdf); n != "2" {
		t.Errorf("pages: %s, want 2 (one page break)", n)
	}
	if !bytes.Contains(pdf, []byte("/Subtype /Image")) {
		t.Error("no image in the PDF")
	}
}

func TestEscapedValuesStayText(t *testing.T) {
	value := "**not bold** # no heading\n- no list | pipe <b>x</b> ![i](/etc/passwd) &amp; \\pagebreak [a](javascript:x)"
	src := "| col |\n|---|\n| " + Escape("a|b") + " |\n\n" + Escape(value) + "\n"
	r := New(Options{Dir: t.TempDir()})
	pdf, _, err := r.Render([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := squash(pdfText(t, pdf))
	for _, want := range []string{"a|b", "**not bold** # no heading", "- no list | pipe <b>x</b> ![i](/etc/passwd) &amp; \\pagebreak [a](javascript:x)"} {
		if !strings.Contains(got, want) {
			t.Errorf("text lacks %q:\n%s", want, got)
		}
	}
	if n := pages(t, pdf); n != "1" {
		t.Errorf("pages: %s; a value must not break the page", n)
	}
}

func TestHostileText(t *testing.T) {
	cases := map[string]string{
		"long word": strings.Repeat("W", 20000),
		"rtl":       "שלום עולם and مرحبا بالعالم",
		"emoji":     "Hello 🙂👍🏽 family 👨‍👩‍👧 flag 🇩🇪 done",
		"controls":  "a\x00b\x1bc\u202eevil\u202c\ufeffz",
		"cjk":       "中文 テキスト",
	}
	r := New(Options{Dir: t.TempDir()})
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			src := "# " + Escape(value) + "\n\n" + Escape(value) + "\n\n| a | b |\n|---|---|\n| " + Escape(value) + " | x |\n"
			pdf, _, err := r.Render([]byte(src))
			if err != nil {
				t.Fatal(err)
			}
			got := pdfText(t, pdf)
			switch name {
			case "long word":
				if n := strings.Count(got, "W"); n < 3*20000 {
					t.Errorf("only %d of the W survived", n)
				}
			case "emoji":
				if !strings.Contains(got, "Hello") || !strings.Contains(got, "done") {
					t.Errorf("text around emoji lost: %q", got)
				}
			case "rtl":
				if !strings.Contains(got, "and") {
					t.Errorf("text lost: %q", got)
				}
			case "controls":
				if !strings.Contains(got, "evil") {
					t.Errorf("text lost: %q", got)
				}
			}
		})
	}
}

func TestTooLong(t *testing.T) {
	r := New(Options{Dir: t.TempDir(), MaxPages: 3})
	src := strings.Repeat("para\n\n", 1000)
	if _, _, err := r.Render([]byte(src)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("want ErrTooLong, got %v", err)
	}
}

func TestImageErrors(t *testing.T) {
	dir := t.TempDir()
	writePictures(t, dir)
	r := New(Options{Dir: dir})
	for src, want := range map[string]string{
		"![x](img/missing.png)":               "missing.png",
		"![x](img/fake.png)":                  "not a PNG or JPEG",
		"![x](../secret.png)":                 "inside the template's folder",
		"![x](/etc/passwd)":                   "inside the template's folder",
		"![x](https://example.com/a.png)":     "only local files",
		"text\n\n![x](img/{{Logo}}.png) more": "",
	} {
		err := r.Check([]byte(src))
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v (paths with tags are checked per item)", src, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", src, err, want)
		}
		if _, _, err := r.Render([]byte(src)); err == nil {
			t.Errorf("%s: Render succeeded", src)
		}
	}
}

func TestSplitPages(t *testing.T) {
	src := "a\n\\pagebreak\nb\n```\n\\pagebreak\n```\n  ---pagebreak---  \nc"
	got := splitPages([]byte(src))
	if len(got) != 3 || string(got[0]) != "a\n" || !strings.HasPrefix(string(got[1]), "b\n```") || string(got[2]) != "c" {
		t.Errorf("split: %q", got)
	}
}

func TestEscapeUnescapeRoundTrip(t *testing.T) {
	for _, s := range []string{"plain", "a*b_c`d", "&amp; &#65; \\x", "1. x", "€ Zoë"} {
		if got := unescape([]byte(Escape(s))); got != s {
			t.Errorf("unescape(Escape(%q)) = %q", s, got)
		}
	}
	if got := unescape([]byte("&amp; &#x41; &copy; &bogus; \\*")); got != "& A © &bogus; *" {
		t.Errorf("unescape: %q", got)
	}
}

// A value with line breaks stays inside the heading, table cell or
// paragraph it was put in, and no escape character shows.
func TestValueLineBreaks(t *testing.T) {
	r := New(Options{Dir: t.TempDir()})
	for name, value := range map[string]string{
		"LF":           "first line\nsecond line",
		"CRLF":         "first line\r\nsecond line",
		"trailing LF":  "first line\nsecond line\n",
		"blank line":   "first line\n\nsecond line",
		"markup after": "first line\n# second line",
		"only a break": "\nfirst line second line",
		"lone CR":      "first line\rsecond line",
	} {
		t.Run(name, func(t *testing.T) {
			v := Escape(value)
			src := "# Heading " + v + "\n\n| a | b |\n|---|---|\n| " + v + " | cell after |\n\nText " + v + " ends.\n\n## Last " + v + "\n"
			pdf, _, err := r.Render([]byte(src))
			if err != nil {
				t.Fatal(err)
			}
			got := pdfText(t, pdf)
			if strings.Contains(got, `\`) {
				t.Errorf("a backslash shows:\n%s", got)
			}
			flat := squash(got)
			for _, want := range []string{"Heading first line", "cell after", "Text first line", "ends.", "Last first line"} {
				if !strings.Contains(flat, want) {
					t.Errorf("text lacks %q:\n%s", want, got)
				}
			}
			if n := strings.Count(flat, "second line"); n != 4 {
				t.Errorf("%q appears %d times, want 4:\n%s", "second line", n, got)
			}
		})
	}
}
