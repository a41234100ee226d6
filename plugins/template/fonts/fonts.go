// Package fonts embeds the DejaVu fonts the template block lays documents out
// with, so the block needs nothing installed on the machine it runs on.
// DejaVu covers Latin (Zoë Ångström, Łukasz), Greek, Cyrillic, Hebrew, Arabic
// and many symbols; the licence is in LICENSE next to the font files.
//
// Face.Has says whether a face has a glyph for a rune, so a layout can
// set what DejaVu cannot draw in a fallback font found on the machine
// (Fallback), and replace what no font has instead of failing on it.
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

// Face is one embedded TrueType font.
type Face struct {
	Name string
	// Data is the TrueType file; callers must not modify it.
	Data []byte

	once   sync.Once
	cover  *[0x10000 / 64]uint64 // runes of the Basic Multilingual Plane with a glyph
	widths []uint16              // advance width per rune, thousandths of an em
	err    error

	coreState
}

// Has reports whether the face has a glyph for r. Only the Basic
// Multilingual Plane counts: the PDF writer cannot address glyphs of
// characters beyond it (most emoji), so they are reported as missing.
func (f *Face) Has(r rune) bool {
	f.once.Do(f.load)
	if f.cover == nil || r < 0 || r > 0xFFFF {
		return false
	}
	return f.cover[r/64]&(1<<(uint(r)%64)) != 0
}

// Width is the advance width of r in thousandths of the font size, 0 for a
// rune the face lacks.
func (f *Face) Width(r rune) int {
	f.once.Do(f.load)
	if r < 0 || int(r) >= len(f.widths) {
		return 0
	}
	return int(f.widths[r])
}

// Err reports a font file that could not be read; it is nil for the
// embedded files, which the package's tests check.
func (f *Face) Err() error {
	f.once.Do(f.load)
	return f.err
}

func (f *Face) load() {
	cover, widths, err := metrics(f.Data)
	if err != nil {
		f.err = errors.New("font " + f.Name + ": " + err.Error())
		return
	}
	f.cover, f.widths = cover, widths
}

var errMetrics = errors.New("no usable horizontal metrics")

// metrics reads which runes the font covers and how wide each one is.
func metrics(ttf []byte) (*[0x10000 / 64]uint64, []uint16, error) {
	head, ok := table(ttf, "head")
	if !ok || len(head) < 20 {
		return nil, nil, errMetrics
	}
	unitsPerEm := int(binary.BigEndian.Uint16(head[18:]))
	hhea, ok := table(ttf, "hhea")
	if !ok || len(hhea) < 36 || unitsPerEm == 0 {
		return nil, nil, errMetrics
	}
	long := int(binary.BigEndian.Uint16(hhea[34:]))
	hmtx, ok := table(ttf, "hmtx")
	if !ok || long == 0 || len(hmtx) < 4*long {
		return nil, nil, errMetrics
	}
	advance := func(glyph uint32) uint16 {
		g := int(glyph)
		if g >= long {
			g = long - 1 // the last advance repeats for the rest
		}
		a := int(binary.BigEndian.Uint16(hmtx[4*g:]))
		return uint16((a*1000 + unitsPerEm/2) / unitsPerEm)
	}
	var cover [0x10000 / 64]uint64
	widths := make([]uint16, 0x10000)
	err := walkCmap(ttf, func(r, glyph uint32) {
		if r <= 0xFFFF && glyph != 0 {
			cover[r/64] |= 1 << (r % 64)
			widths[r] = advance(glyph)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return &cover, widths, nil
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
		for c := start; c <= end && c <= 0xFFFF; c++ {
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
