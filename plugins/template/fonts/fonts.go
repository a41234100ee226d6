// Package fonts embeds the DejaVu fonts the template block lays documents out
// with, so the block needs nothing installed on the machine it runs on.
// DejaVu covers Latin (Zoë Ångström, Łukasz), Greek, Cyrillic, Hebrew, Arabic
// and many symbols; the licence is in LICENSE next to the font files.
//
// Face.Has says whether a face has a glyph for a rune, so a layout can
// set what DejaVu cannot draw in a fallback font found on the machine
// (Fallback), and replace what no font has instead of failing on it.
// Face.Subset cuts a face down to the glyphs a document uses, for
// embedding in a PDF.
package fonts

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"sync"
)

var (
	//go:embed DejaVuSans.ttf
	sans []byte
	//go:embed DejaVuSans-Bold.ttf
	sansBold []byte
	//go:embed DejaVuSansMono.ttf
	mono []byte
)

// The faces a document uses: body text, strong emphasis and code. Italics
// are the upright faces slanted, as DejaVu's oblique faces are.
var (
	Regular = &Face{Name: "DejaVuSans", Data: sans}
	Bold    = &Face{Name: "DejaVuSans-Bold", Data: sansBold}
	Mono    = &Face{Name: "DejaVuSansMono", Data: mono}
)

// Face is one TrueType font.
type Face struct {
	Name string
	// Data is the TrueType file; callers must not modify it.
	Data []byte

	once   sync.Once
	bmp    []uint16        // glyph id per rune of the Basic Multilingual Plane, 0 for none
	astral map[rune]uint16 // glyph ids of runes beyond it (most emoji)
	adv    []uint16        // advance width per glyph id, thousandths of an em
	info   Metrics
	err    error

	runesOnce sync.Once
	runeOf    []rune // the lowest rune each glyph draws, for text extraction

	coreState
}

// Metrics are the figures of a face a PDF font descriptor states, in
// thousandths of an em.
type Metrics struct {
	Ascent, Descent, CapHeight       int
	BBox                             [4]int // xMin, yMin, xMax, yMax
	ItalicAngle                      float64
	UnderlinePos, UnderlineThickness int
	Glyphs                           int // glyphs in the font
}

// Has reports whether the face has a glyph for r.
func (f *Face) Has(r rune) bool { return f.Glyph(r) != 0 }

// Glyph is the glyph id of r, 0 (the missing glyph) for a rune the face
// lacks.
func (f *Face) Glyph(r rune) uint16 {
	f.once.Do(f.load)
	switch {
	case r >= 0 && int(r) < len(f.bmp):
		return f.bmp[r]
	case r > 0xFFFF:
		return f.astral[r]
	}
	return 0
}

// Width is the advance width of r in thousandths of the font size, 0 for a
// rune the face lacks.
func (f *Face) Width(r rune) int {
	g := f.Glyph(r)
	if g == 0 {
		return 0
	}
	return int(f.adv[g])
}

// GlyphWidth is the advance width of glyph g in thousandths of the font
// size.
func (f *Face) GlyphWidth(g uint16) int {
	f.once.Do(f.load)
	if int(g) >= len(f.adv) {
		return 0
	}
	return int(f.adv[g])
}

// Metrics returns the face's figures for a font descriptor.
func (f *Face) Metrics() Metrics {
	f.once.Do(f.load)
	return f.info
}

// Rune is the lowest rune that glyph g draws, 0 for none: what a PDF
// reader extracts for the glyph.
func (f *Face) Rune(g uint16) rune {
	f.once.Do(f.load)
	f.runesOnce.Do(func() {
		f.runeOf = make([]rune, len(f.adv))
		set := func(r rune, g uint16) {
			if int(g) < len(f.runeOf) && g != 0 && (f.runeOf[g] == 0 || r < f.runeOf[g]) {
				f.runeOf[g] = r
			}
		}
		for r, g := range f.bmp {
			set(rune(r), g)
		}
		for r, g := range f.astral {
			set(r, g)
		}
	})
	if int(g) >= len(f.runeOf) {
		return 0
	}
	return f.runeOf[g]
}

// Err reports a font file that could not be read; it is nil for the
// embedded files, which the package's tests check.
func (f *Face) Err() error {
	f.once.Do(f.load)
	return f.err
}

func (f *Face) load() {
	if err := f.read(); err != nil {
		f.bmp, f.astral, f.adv = nil, nil, nil
		f.err = errors.New("font " + f.Name + ": " + err.Error())
	}
}

var errMetrics = errors.New("no usable horizontal metrics")

// read parses the character map, the advance widths and the figures of
// the font.
func (f *Face) read() error {
	ttf := f.Data
	be := binary.BigEndian
	head, ok := table(ttf, "head")
	if !ok || len(head) < 54 {
		return errMetrics
	}
	unitsPerEm := int(be.Uint16(head[18:]))
	hhea, ok := table(ttf, "hhea")
	maxp, okp := table(ttf, "maxp")
	if !ok || !okp || len(hhea) < 36 || len(maxp) < 6 || unitsPerEm == 0 {
		return errMetrics
	}
	long := int(be.Uint16(hhea[34:]))
	glyphs := int(be.Uint16(maxp[4:]))
	hmtx, ok := table(ttf, "hmtx")
	if !ok || long == 0 || len(hmtx) < 4*long || glyphs == 0 {
		return errMetrics
	}
	scale := func(v int) int {
		if v < 0 {
			return -((-v*1000 + unitsPerEm/2) / unitsPerEm)
		}
		return (v*1000 + unitsPerEm/2) / unitsPerEm
	}
	f.adv = make([]uint16, glyphs)
	for g := range glyphs {
		a := int(be.Uint16(hmtx[4*min(g, long-1):]))
		f.adv[g] = uint16(scale(a))
	}
	s16 := func(b []byte, at int) int { return int(int16(be.Uint16(b[at:]))) }
	m := Metrics{
		Ascent: scale(s16(hhea, 4)), Descent: scale(s16(hhea, 6)),
		BBox:   [4]int{scale(s16(head, 36)), scale(s16(head, 38)), scale(s16(head, 40)), scale(s16(head, 42))},
		Glyphs: glyphs,
	}
	m.CapHeight = m.Ascent
	if os2, ok := table(ttf, "OS/2"); ok && len(os2) >= 90 && be.Uint16(os2) >= 2 {
		m.CapHeight = scale(s16(os2, 88))
	}
	if post, ok := table(ttf, "post"); ok && len(post) >= 12 {
		m.ItalicAngle = float64(int32(be.Uint32(post[4:]))) / 65536
		m.UnderlinePos, m.UnderlineThickness = scale(s16(post, 8)), scale(s16(post, 10))
	}
	f.info = m
	f.bmp = make([]uint16, 0x10000)
	return walkCmap(ttf, func(r, glyph uint32) {
		if glyph == 0 || int(glyph) >= glyphs {
			return
		}
		if r <= 0xFFFF {
			f.bmp[r] = uint16(glyph)
			return
		}
		if r <= 0x10FFFF {
			if f.astral == nil {
				f.astral = map[rune]uint16{}
			}
			f.astral[rune(r)] = uint16(glyph)
		}
	})
}

var errCmap = errors.New("no usable Unicode cmap")

// walkCmap calls set for every character of the font's Unicode
// character map with its glyph id.
func walkCmap(ttf []byte, set func(r, glyph uint32)) error {
	cmap, ok := table(ttf, "cmap")
	if !ok || len(cmap) < 4 {
		return errCmap
	}
	n := int(binary.BigEndian.Uint16(cmap[2:]))
	var fmt4, fmt12 []byte
	for i := 0; i < n; i++ {
		rec := 4 + 8*i
		if rec+8 > len(cmap) {
			break
		}
		platform := binary.BigEndian.Uint16(cmap[rec:])
		encoding := binary.BigEndian.Uint16(cmap[rec+2:])
		off := int(binary.BigEndian.Uint32(cmap[rec+4:]))
		if off+4 > len(cmap) {
			continue
		}
		sub := cmap[off:]
		unicode := platform == 0 || (platform == 3 && (encoding == 1 || encoding == 10))
		if !unicode {
			continue
		}
		switch binary.BigEndian.Uint16(sub) {
		case 4:
			fmt4 = sub
		case 12:
			fmt12 = sub
		}
	}
	switch {
	case fmt12 != nil:
		return walkFormat12(fmt12, set)
	case fmt4 != nil:
		return walkFormat4(fmt4, set)
	}
	return errCmap
}

// table finds a table of the font by its tag.
func table(ttf []byte, tag string) ([]byte, bool) {
	if len(ttf) < 12 {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(ttf[4:]))
	for i := 0; i < n; i++ {
		rec := 12 + 16*i
		if rec+16 > len(ttf) {
			return nil, false
		}
		if string(ttf[rec:rec+4]) != tag {
			continue
		}
		off := int(binary.BigEndian.Uint32(ttf[rec+8:]))
		size := int(binary.BigEndian.Uint32(ttf[rec+12:]))
		if off < 0 || size < 0 || off+size > len(ttf) {
			return nil, false
		}
		return ttf[off : off+size], true
	}
	return nil, false
}

// walkFormat12 walks a segmented coverage subtable (format 12).
func walkFormat12(sub []byte, set func(r, glyph uint32)) error {
	if len(sub) < 16 {
		return errCmap
	}
	groups := int(binary.BigEndian.Uint32(sub[12:]))
	for g := 0; g < groups; g++ {
		at := 16 + 12*g
		if at+12 > len(sub) {
			return errCmap
		}
		start := binary.BigEndian.Uint32(sub[at:])
		end := binary.BigEndian.Uint32(sub[at+4:])
		glyph := binary.BigEndian.Uint32(sub[at+8:])
		if end > 0x10FFFF || end < start {
			continue
		}
		for c := start; c <= end; c++ {
			set(c, glyph+(c-start))
		}
	}
	return nil
}

// walkFormat4 walks a segment mapping subtable (format 4).
func walkFormat4(sub []byte, set func(r, glyph uint32)) error {
	if len(sub) < 14 {
		return errCmap
	}
	segs := int(binary.BigEndian.Uint16(sub[6:])) / 2
	ends := 14
	starts := ends + 2*segs + 2
	deltas := starts + 2*segs
	ranges := deltas + 2*segs
	if ranges+2*segs > len(sub) {
		return errCmap
	}
	u16 := func(at int) uint16 { return binary.BigEndian.Uint16(sub[at:]) }
	for i := 0; i < segs; i++ {
		end, start := uint32(u16(ends+2*i)), uint32(u16(starts+2*i))
		delta, rangeOff := u16(deltas+2*i), int(u16(ranges+2*i))
		for c := start; c <= end && c != 0xFFFF; c++ {
			glyph := uint16(c) + delta
			if rangeOff != 0 {
				at := ranges + 2*i + rangeOff + 2*int(c-start)
				if at+2 > len(sub) {
					return errCmap
				}
				if g := u16(at); g != 0 {
					glyph = g + delta
				} else {
					glyph = 0
				}
			}
			set(c, uint32(glyph))
		}
	}
	return nil
}
