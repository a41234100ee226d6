package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"github.com/paperflow/paperflow/plugins/signature/pdfview"
)

// oddPage is a page of oddPagesPDF: its /Rotate and the boxes it has
// (empty: the A4 media box from 0,0), and so the size it shows at.
type oddPage struct {
	rotate      int
	media, crop string // pdfcpu box definitions, "[llx lly urx ury]"
	shownW      float64
	shownH      float64
}

// oddPages are pages whose coordinates viewers transform: turned by
// /Rotate, or with a media or crop box that does not start at 0,0, or
// both.
var oddPages = []oddPage{
	{0, "", "", 595.28, 841.89},
	{90, "", "", 841.89, 595.28},
	{180, "", "", 595.28, 841.89},
	{270, "", "", 841.89, 595.28},
	{0, "[30 40 560 800]", "", 530, 760},
	{90, "", "[60 80 520 760]", 680, 460},
	{270, "[20 30 580 830]", "[60 80 520 760]", 680, 460},
	{180, "", "[100 50 540 700]", 440, 650},
}

// oddPagesPDF writes one page per oddPages entry with fpdf, then turns and
// crops them with pdfcpu. Each page carries the anchor "[sig]" (in the
// page's own space, so on a turned page it runs sideways, as a rotated
// scan's text does) off the page's centre, and "PageN".
func oddPagesPDF(t *testing.T) []byte {
	t.Helper()
	pdf := fpdf.NewCustom(&fpdf.InitType{UnitStr: "pt", Size: fpdf.SizeType{Wd: 595.28, Ht: 841.89}})
	pdf.SetFont("Helvetica", "", 12)
	for i, p := range oddPages {
		pdf.AddPage()
		l, b, r, top := 0.0, 0.0, 595.28, 841.89
		for _, box := range []string{p.media, p.crop} {
			if box != "" {
				_, _ = fmt.Sscanf(box, "[%g %g %g %g]", &l, &b, &r, &top)
			}
		}
		// fpdf measures from the top of the 841.89 pt page.
		pdf.Text(l+0.2*(r-l), 841.89-(b+0.6*(top-b)), "[sig]")
		pdf.Text(l+0.1*(r-l), 841.89-(b+0.9*(top-b)), "Page"+strconv.Itoa(i+1))
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	conf := model.NewDefaultConfiguration()
	for i, p := range oddPages {
		page := []string{strconv.Itoa(i + 1)}
		if p.rotate != 0 {
			var out bytes.Buffer
			if err := api.Rotate(bytes.NewReader(data), &out, p.rotate, page, conf); err != nil {
				t.Fatal(err)
			}
			data = out.Bytes()
		}
		var boxes []string
		if p.media != "" {
			boxes = append(boxes, "media:"+p.media)
		}
		if p.crop != "" {
			boxes = append(boxes, "crop:"+p.crop)
		}
		if len(boxes) == 0 {
			continue
		}
		pb, err := model.ParsePageBoundaries(strings.Join(boxes, ", "), types.POINTS)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := api.AddBoxes(bytes.NewReader(data), &out, page, pb, conf); err != nil {
			t.Fatal(err)
		}
		data = out.Bytes()
	}
	return data
}

// TestFieldsOnRotatedAndCroppedPages: on pages turned by /Rotate 90, 180
// and 270 and on pages whose media or crop box does not start at 0,0,
// anchors are found where viewers show them, the page images show them
// there, and the values drawn when sealing land in the fields' boxes as
// shown, without moving the page's own content; pdfsig reports the seal
// valid. pdftotext -bbox -cropbox is the measure throughout.
func TestFieldsOnRotatedAndCroppedPages(t *testing.T) {
	t.Parallel()
	const offX, offY, fieldW, fieldH = 0.0, 16.0, 100.0, 24.0
	fields := []map[string]any{{"type": "signature", "anchor": "[sig]", "offset_x": offX, "offset_y": offY, "width": fieldW, "height": fieldH}}
	for i := range oddPages {
		fields = append(fields, map[string]any{"type": "text", "name": fmt.Sprintf("at%d", i+1), "document": 1, "page": i + 1, "x": 40, "y": 60, "width": fieldW, "height": fieldH})
	}
	with, _ := json.Marshal(map[string]any{"documents": []string{"contract"}, "recipients": []map[string]any{{"email": "ada@example.com", "name": "Ada Lovelace", "fields": fields}}})
	f := newFixture(t, string(with))
	original := oddPagesPDF(t)
	d, err := f.host.PutDocument(context.Background(), "Odd pages.pdf", "application/pdf", original)
	if err != nil {
		t.Fatal(err)
	}
	f.doc = d
	link := f.links(f.process(f.item("1", nil, ""))[0])[0]
	req := f.request()

	before := pdfWords(t, original)
	for i, p := range oddPages {
		n := i + 1
		got := req.Documents[0].Pages[i]
		if math.Abs(got.W-p.shownW) > 0.5 || math.Abs(got.H-p.shownH) > 0.5 {
			t.Errorf("page %d: size %.2f × %.2f, shown at %.2f × %.2f", n, got.W, got.H, p.shownW, p.shownH)
		}
		a := phraseOn(t, before, n, "[sig]")
		pl := req.Fields[0].Places[i]
		if pl.Page != n || math.Abs(pl.X-(a.XMin+offX)) > 2 || math.Abs(pl.Y-(a.YMin+offY)) > 2 {
			t.Errorf("page %d: field at page %d (%.1f, %.1f); the anchor shows at (%.1f, %.1f)", n, pl.Page, pl.X, pl.Y, a.XMin, a.YMin)
		}
		checkInkAt(t, original, n, p, a)
	}

	form := url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"Ada Lovelace"}, "submission": {f.submission(link)}}
	for i := range oddPages {
		form.Set(fmt.Sprintf("field.at%d", i+1), fmt.Sprintf("Here%d", i+1))
	}
	if code, body := f.post(link, form); code != http.StatusOK || !strings.Contains(body, "Everyone has signed") {
		t.Fatalf("sign: %d\n%s", code, body)
	}
	signedDoc := f.request().Signed[0]
	_, signed, err := f.host.GetDocument(context.Background(), signedDoc.ID)
	if err != nil {
		t.Fatal(err)
	}
	after := pdfWords(t, signed)
	inside := func(what string, n int, v wordBox, x, y, w, h float64) {
		t.Helper()
		if !inBox(v, x, y, w, h) {
			t.Errorf("page %d: %q drawn at [%.1f %.1f – %.1f %.1f]; its box is [%.1f %.1f – %.1f %.1f]", n, what, v.XMin, v.YMin, v.XMax, v.YMax, x, y, x+w, y+h)
		}
	}
	for i, p := range oddPages {
		n := i + 1
		a := phraseOn(t, before, n, "[sig]")
		for _, c := range []struct {
			value string
			x, y  float64
		}{{"Ada Lovelace", a.XMin + offX, a.YMin + offY}, {fmt.Sprintf("Here%d", n), 40, 60}} {
			v, ok := drawnNear(before, after, c.value, n, c.x, c.y)
			if !ok {
				t.Errorf("page %d: %q not drawn", n, c.value)
				continue
			}
			inside(c.value, n, v, c.x, c.y, fieldW, fieldH)
		}
		// The page's own text stays where it was.
		for _, w := range []string{"[sig]", "Page" + strconv.Itoa(n)} {
			was, now := phraseOn(t, before, n, w), phraseOn(t, after, n, w)
			if math.Abs(was.XMin-now.XMin) > 0.5 || math.Abs(was.YMin-now.YMin) > 0.5 {
				t.Errorf("page %d: %q moved from (%.1f, %.1f) to (%.1f, %.1f)", n, w, was.XMin, was.YMin, now.XMin, now.YMin)
			}
		}
		// The stamp runs along the foot of the page as shown.
		s := phraseOn(t, after, n, "Signed electronically by Ada Lovelace")
		if s.XMin < 0 || s.XMax > p.shownW || s.YMax > p.shownH || s.YMin < p.shownH-30 {
			t.Errorf("page %d (%.0f × %.0f pt as shown): the stamp is at [%.1f %.1f – %.1f %.1f]", n, p.shownW, p.shownH, s.XMin, s.YMin, s.XMax, s.YMax)
		}
	}
	checkSignedPDFValid(t, signed)
}

// phraseOn is the first occurrence of the words of s in a row on page n.
func phraseOn(t *testing.T, words []wordBox, n int, s string) wordBox {
	t.Helper()
	var on []wordBox
	for _, w := range words {
		if w.Page == n {
			on = append(on, w)
		}
	}
	b, ok := phrase(on, s)
	if !ok {
		t.Fatalf("page %d: no %q in the text", n, s)
	}
	return b
}

// checkInkAt checks on the image of page n that the anchor's box, as
// pdftotext measures it, is where the image has the anchor's ink: the
// field boxes drawn over the image (placed in points on the page as shown)
// then sit where the signer expects them.
func checkInkAt(t *testing.T, pdf []byte, n int, p oddPage, a wordBox) {
	t.Helper()
	ink := shownInk(t, pdf, n, p.shownW, p.shownH)
	in := ink(a.XMin, a.YMin, a.XMax, a.YMax)
	// The same box moved by its own width to the left holds no ink: the
	// page is otherwise empty there.
	w := a.XMax - a.XMin
	beside := ink(a.XMin-2*w, a.YMin, a.XMin-w, a.YMax)
	if in < 10 || beside > 0 {
		t.Errorf("page %d: %d dark pixels in the anchor's box, %d beside it", n, in, beside)
	}
}

// shownInk renders page n of pdf as the signing page shows it, checks
// that the image has the page's shape as shown (shownW × shownH points),
// and returns a count of the dark pixels in a box given in points from the
// top-left corner of the page as shown.
func shownInk(t *testing.T, pdf []byte, n int, shownW, shownH float64) func(x0, y0, x1, y1 float64) int {
	t.Helper()
	const width = 600
	raw, err := pdfview.Render(context.Background(), pdf, n, width)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	scale := width / shownW
	if h := img.Bounds().Dy(); math.Abs(float64(h)-shownH*scale) > 2 {
		t.Errorf("page %d: image %d × %d px, not the page's shape as shown (%.0f × %.0f pt)", n, width, h, shownW, shownH)
	}
	return func(x0, y0, x1, y1 float64) int {
		c := 0
		for y := int(y0 * scale); y <= int(y1*scale); y++ {
			for x := int(x0 * scale); x <= int(x1*scale); x++ {
				if r, g, b, _ := img.At(x, y).RGBA(); r+g+b < 3*0x8000 && (image.Point{x, y}).In(img.Bounds()) {
					c++
				}
			}
		}
		return c
	}
}
