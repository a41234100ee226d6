// Package pdfview reads PDFs for the signing page: the size of each page,
// where a piece of text (a field's anchor) sits on which page, and each page
// rendered as a PNG.
//
// It runs PDFium compiled to WebAssembly on the wazero runtime, so the block
// stays a pure Go binary (no cgo, nothing to install). Compiling the module
// costs seconds, so it happens once per process, on first use, and the
// machine code is kept in a compilation cache on disk for the next process;
// after that a call takes milliseconds.
//
// Coordinates are in PDF points (1/72 inch) from the top-left corner of the
// page as displayed, the way a person measures on paper and the way the
// signing page lays out its fields: the crop box (or media box) is the
// page, wherever it starts, and a page's /Rotate is applied, as viewers and
// Render show it.
package pdfview

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/klippa-app/go-pdfium"
	"github.com/klippa-app/go-pdfium/references"
	"github.com/klippa-app/go-pdfium/requests"
	"github.com/klippa-app/go-pdfium/webassembly"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// Workers is how many PDFium instances a process runs at once; each holds
// its own WebAssembly memory (tens of MB), and a page render keeps a core
// busy, so more would not help a block process.
const Workers = 2

// instanceWait bounds the wait for a free PDFium instance.
const instanceWait = 30 * time.Second

var (
	poolOnce sync.Once
	pool     pdfium.Pool
	poolErr  error
)

// cacheDir is where wazero keeps the compiled module between processes.
func cacheDir() string {
	if d := os.Getenv("PAPERFLOW_WASM_CACHE"); d != "" {
		return d
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "paperflow", "wazero")
}

// instance returns a PDFium instance from the process's pool, making the
// pool on first use.
func instance(ctx context.Context) (pdfium.Pdfium, error) {
	poolOnce.Do(func() {
		rc := wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2 | experimental.CoreFeaturesExceptionHandling)
		if cache, err := wazero.NewCompilationCacheWithDir(cacheDir()); err == nil {
			rc = rc.WithCompilationCache(cache)
		}
		pool, poolErr = webassembly.Init(webassembly.Config{
			MinIdle: 1, MaxIdle: Workers, MaxTotal: Workers, ReuseWorkers: true,
			// Documents arrive as bytes: PDFium sees no file system.
			FSConfig: wazero.NewFSConfig(), RuntimeConfig: rc,
			Stdout: discard{}, Stderr: discard{},
		})
		if poolErr != nil {
			poolErr = fmt.Errorf("pdfview: start PDFium: %w", poolErr)
		}
	})
	if poolErr != nil {
		return nil, poolErr
	}
	ctx, cancel := context.WithTimeout(ctx, instanceWait)
	defer cancel()
	inst, err := pool.GetInstanceWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("pdfview: no PDFium instance free: %w", err)
	}
	return inst, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Warm starts PDFium in the background so the first signing page does not
// wait for the module to compile.
func Warm() {
	go func() {
		if inst, err := instance(context.Background()); err == nil {
			_ = inst.Close()
		}
	}()
}

// Size is a page's width and height in points, as displayed (rotation
// applied).
type Size struct{ Width, Height float64 }

// Rect is a box on a page in points: X, Y from the top-left corner.
type Rect struct{ X, Y, Width, Height float64 }

// Match is one place an anchor text was found.
type Match struct {
	Page int // from 1
	Box  Rect
}

// Layout is what Inspect found in a document.
type Layout struct {
	Pages []Size
	// Anchors maps each anchor asked for to every place it occurs, in
	// reading order: page by page, top to bottom.
	Anchors map[string][]Match
}

// ErrUnreadable means PDFium could not open the document.
var ErrUnreadable = errors.New("not a PDF that can be read")

// withDoc opens pdf in a PDFium instance for f.
func withDoc(ctx context.Context, pdf []byte, f func(p pdfium.Pdfium, doc references.FPDF_DOCUMENT) error) error {
	p, err := instance(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	d, err := p.OpenDocument(&requests.OpenDocument{File: &pdf})
	if err != nil {
		return fmt.Errorf("pdfview: %w: %v", ErrUnreadable, err)
	}
	defer p.FPDF_CloseDocument(&requests.FPDF_CloseDocument{Document: d.Document})
	return f(p, d.Document)
}

// Inspect returns the page sizes of pdf and where each of anchors occurs
// (case-sensitive; whitespace as in the text).
func Inspect(ctx context.Context, pdf []byte, anchors []string) (Layout, error) {
	out := Layout{Anchors: map[string][]Match{}}
	err := withDoc(ctx, pdf, func(p pdfium.Pdfium, doc references.FPDF_DOCUMENT) error {
		n, err := p.FPDF_GetPageCount(&requests.FPDF_GetPageCount{Document: doc})
		if err != nil {
			return fmt.Errorf("pdfview: count pages: %w", err)
		}
		for i := range n.PageCount {
			if err := inspectPage(p, doc, i, anchors, &out); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func inspectPage(p pdfium.Pdfium, doc references.FPDF_DOCUMENT, i int, anchors []string, out *Layout) error {
	pg, err := p.FPDF_LoadPage(&requests.FPDF_LoadPage{Document: doc, Index: i})
	if err != nil {
		return fmt.Errorf("pdfview: page %d: %w", i+1, err)
	}
	defer p.FPDF_ClosePage(&requests.FPDF_ClosePage{Page: pg.Page})
	page := requests.Page{ByReference: &pg.Page}
	v, err := pageView(p, page)
	if err != nil {
		return fmt.Errorf("pdfview: page %d: %w", i+1, err)
	}
	out.Pages = append(out.Pages, v.size())
	if len(anchors) == 0 {
		return nil
	}
	tp, err := p.FPDFText_LoadPage(&requests.FPDFText_LoadPage{Page: page})
	if err != nil {
		return fmt.Errorf("pdfview: page %d text: %w", i+1, err)
	}
	defer p.FPDFText_ClosePage(&requests.FPDFText_ClosePage{TextPage: tp.TextPage})
	for _, a := range anchors {
		if strings.TrimSpace(a) == "" {
			continue
		}
		found, err := find(p, tp.TextPage, a, v)
		if err != nil {
			return fmt.Errorf("pdfview: page %d: find %q: %w", i+1, a, err)
		}
		for _, r := range found {
			out.Anchors[a] = append(out.Anchors[a], Match{Page: i + 1, Box: r})
		}
	}
	return nil
}

// view is how a page is shown: its visible box (the crop box within the
// media box) in the page's own coordinates, and the turn given by its
// /Rotate, in quarter turns clockwise.
type view struct {
	left, bottom, right, top float64
	quarters                 int
}

// pageView reads how PDFium shows page, the way it renders it.
func pageView(p pdfium.Pdfium, page requests.Page) (view, error) {
	bb, err := p.FPDF_GetPageBoundingBox(&requests.FPDF_GetPageBoundingBox{Page: page})
	if err != nil {
		return view{}, fmt.Errorf("visible box: %w", err)
	}
	rot, err := p.FPDFPage_GetRotation(&requests.FPDFPage_GetRotation{Page: page})
	if err != nil {
		return view{}, fmt.Errorf("rotation: %w", err)
	}
	r := bb.Rect
	return view{
		left: float64(min(r.Left, r.Right)), right: float64(max(r.Left, r.Right)),
		bottom: float64(min(r.Bottom, r.Top)), top: float64(max(r.Bottom, r.Top)),
		quarters: int(rot.PageRotation) & 3,
	}, nil
}

// size is the page's size as displayed.
func (v view) size() Size {
	w, h := v.right-v.left, v.top-v.bottom
	if v.quarters%2 == 1 {
		w, h = h, w
	}
	return Size{Width: w, Height: h}
}

// shown turns a point of the page's own space (origin at the bottom left
// of the media box, before rotation) into displayed coordinates: from
// the top-left corner of the visible box, after rotation.
func (v view) shown(x, y float64) (float64, float64) {
	switch v.quarters {
	case 1:
		return y - v.bottom, x - v.left
	case 2:
		return v.right - x, y - v.bottom
	case 3:
		return v.top - y, v.right - x
	}
	return x - v.left, v.top - y
}

// rect is the displayed box of the page-space rectangle l, b, r, t.
func (v view) rect(l, b, r, t float64) Rect {
	x1, y1 := v.shown(l, b)
	x2, y2 := v.shown(r, t)
	return Rect{X: min(x1, x2), Y: min(y1, y2), Width: math.Abs(x2 - x1), Height: math.Abs(y2 - y1)}
}

// find returns the displayed box of every occurrence of text on the page:
// the union of the rectangles PDFium reports for its characters.
func find(p pdfium.Pdfium, tp references.FPDF_TEXTPAGE, text string, v view) ([]Rect, error) {
	s, err := p.FPDFText_FindStart(&requests.FPDFText_FindStart{TextPage: tp, Find: text, Flags: requests.FPDFText_FindStartFlag_MATCHCASE, StartIndex: 0})
	if err != nil {
		return nil, err
	}
	defer p.FPDFText_FindClose(&requests.FPDFText_FindClose{Search: s.Search})
	var out []Rect
	for range 10000 {
		next, err := p.FPDFText_FindNext(&requests.FPDFText_FindNext{Search: s.Search})
		if err != nil {
			return nil, err
		}
		if !next.GotMatch {
			break
		}
		at, err := p.FPDFText_GetSchResultIndex(&requests.FPDFText_GetSchResultIndex{Search: s.Search})
		if err != nil {
			return nil, err
		}
		count, err := p.FPDFText_GetSchCount(&requests.FPDFText_GetSchCount{Search: s.Search})
		if err != nil {
			return nil, err
		}
		rects, err := p.FPDFText_CountRects(&requests.FPDFText_CountRects{TextPage: tp, StartIndex: at.Index, Count: count.Count})
		if err != nil {
			return nil, err
		}
		var l, t, r, b float64
		for k := range rects.Count {
			rc, err := p.FPDFText_GetRect(&requests.FPDFText_GetRect{TextPage: tp, Index: k})
			if err != nil {
				return nil, err
			}
			if k == 0 {
				l, t, r, b = rc.Left, rc.Top, rc.Right, rc.Bottom
				continue
			}
			l, t, r, b = min(l, rc.Left), max(t, rc.Top), max(r, rc.Right), min(b, rc.Bottom)
		}
		if rects.Count > 0 {
			out = append(out, v.rect(l, b, r, t))
		}
	}
	return out, nil
}

// Render draws page (from 1) of pdf width pixels wide and returns it as a
// PNG.
func Render(ctx context.Context, pdf []byte, page, width int) ([]byte, error) {
	if width < 16 || width > 4000 {
		return nil, fmt.Errorf("pdfview: width %d out of range", width)
	}
	var out []byte
	err := withDoc(ctx, pdf, func(p pdfium.Pdfium, doc references.FPDF_DOCUMENT) error {
		n, err := p.FPDF_GetPageCount(&requests.FPDF_GetPageCount{Document: doc})
		if err != nil {
			return err
		}
		if page < 1 || page > n.PageCount {
			return fmt.Errorf("pdfview: no page %d (the document has %d)", page, n.PageCount)
		}
		img, err := p.RenderPageInPixels(&requests.RenderPageInPixels{
			Page:  requests.Page{ByIndex: &requests.PageByIndex{Document: doc, Index: page - 1}},
			Width: width, Height: 0, RenderForm: true, Document: &doc,
		})
		if err != nil {
			return fmt.Errorf("pdfview: render page %d: %w", page, err)
		}
		defer img.Cleanup()
		var buf bytes.Buffer
		if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img.Result.Image); err != nil {
			return fmt.Errorf("pdfview: encode page %d: %w", page, err)
		}
		out = buf.Bytes()
		return nil
	})
	return out, err
}
