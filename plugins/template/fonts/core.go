package fonts

import (
	"encoding/binary"
	"sort"
	"sync"
)

// The PDF writer processes a font's whole character map for every
// document that embeds it, whatever the document uses: DejaVu Sans maps
// over 5,000 characters, most of them in scripts a given document does not
// touch. Core faces are the same fonts with the map cut down to the
// characters of Latin, Greek and Cyrillic text and common symbols (about
// 2,200 in DejaVu Sans); a document that stays within them is made with
// the core faces, markedly faster, and any other with the full ones.

// inCore reports whether r belongs to the core character set.
func inCore(r rune) bool {
	switch {
	case r < 0x0500: // Latin, IPA, combining marks, Greek, Cyrillic
	case r >= 0x1E00 && r < 0x1F00: // Latin Extended Additional
	case r >= 0x2000 && r < 0x2300: // punctuation, currency, letterlike, arrows, maths
	case r >= 0x25A0 && r < 0x2600: // geometric shapes (list bullets)
	case r == 0xFFFD:
	default:
		return false
	}
	return true
}

// Core returns the face with its character map cut to the core set; Has
// and Width of the core face answer for that set only. When the font
// cannot be cut, Core returns f itself.
func (f *Face) Core() *Face {
	f.coreOnce.Do(func() {
		f.core = f
		data, ok := cutCmap(f.Data, inCore)
		if !ok {
			return
		}
		f.core = &Face{Name: f.Name + "-Core", Data: data}
		if f.core.Err() != nil {
			f.core = f
		}
	})
	return f.core
}

// Covers reports whether every rune of s that f has is in f's core set, so
// that text in s looks the same in the core face as in the full one.
func (f *Face) Covers(s string) bool {
	for _, r := range s {
		if r >= 0x80 && !inCore(r) && f.Has(r) {
			return false
		}
	}
	return true
}

// coreState is embedded in Face.
type coreState struct {
	coreOnce sync.Once
	core     *Face
}

// cutCmap returns ttf with a new character map (one format-4 subtable)
// holding the characters keep accepts; all other tables are unchanged.
func cutCmap(ttf []byte, keep func(rune) bool) ([]byte, bool) {
	type pair struct{ r, g uint16 }
	var pairs []pair
	err := walkCmap(ttf, func(r, glyph uint32) {
		if r < 0xFFFF && glyph != 0 && glyph <= 0xFFFF && keep(rune(r)) {
			pairs = append(pairs, pair{uint16(r), uint16(glyph)})
		}
	})
	if err != nil || len(pairs) == 0 {
		return nil, false
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].r < pairs[j].r })

	// Segments of consecutive characters; their glyphs go through the
	// glyph id array (idRangeOffset), which takes any glyph order.
	type segment struct{ start, end uint16 }
	var segs []segment
	for i, p := range pairs {
		if i > 0 && p.r == pairs[i-1].r {
			continue
		}
		if n := len(segs); n > 0 && segs[n-1].end+1 == p.r {
			segs[n-1].end = p.r
			continue
		}
		segs = append(segs, segment{p.r, p.r})
	}
	segs = append(segs, segment{0xFFFF, 0xFFFF})
	n := len(segs)
	glyphOf := map[uint16]uint16{}
	for _, p := range pairs {
		glyphOf[p.r] = p.g
	}
	var glyphs []uint16
	rangeOffsets := make([]uint16, n)
	for i, s := range segs[:n-1] {
		// The offset counts bytes from this segment's own idRangeOffset
		// entry to its first glyph id.
		rangeOffsets[i] = uint16(2*(n-i) + 2*len(glyphs))
		for c := uint32(s.start); c <= uint32(s.end); c++ {
			glyphs = append(glyphs, glyphOf[uint16(c)])
		}
	}
	length := 16 + 8*n + 2*len(glyphs)
	if length > 0xFFFF {
		return nil, false
	}
	sub := make([]byte, length)
	be := binary.BigEndian
	be.PutUint16(sub[0:], 4)
	be.PutUint16(sub[2:], uint16(length))
	be.PutUint16(sub[6:], uint16(2*n))
	putSearchHeader(sub[8:], n, 2)
	for i, s := range segs {
		be.PutUint16(sub[14+2*i:], s.end)
		be.PutUint16(sub[16+2*n+2*i:], s.start)
		if i == n-1 {
			be.PutUint16(sub[16+4*n+2*i:], 1) // 0xFFFF + 1 = glyph 0
		}
		be.PutUint16(sub[16+6*n+2*i:], rangeOffsets[i])
	}
	for i, g := range glyphs {
		be.PutUint16(sub[16+8*n+2*i:], g)
	}
	cmap := make([]byte, 12, 12+len(sub))
	be.PutUint16(cmap[2:], 1)  // one subtable:
	be.PutUint16(cmap[4:], 3)  // Windows
	be.PutUint16(cmap[6:], 1)  // Unicode BMP
	be.PutUint32(cmap[8:], 12) // right after this header
	cmap = append(cmap, sub...)
	return replaceTable(ttf, "cmap", cmap)
}

// replaceTable rebuilds a TrueType file with one table's data replaced,
// with correct offsets and checksums.
func replaceTable(ttf []byte, tag string, data []byte) ([]byte, bool) {
	be := binary.BigEndian
	if len(ttf) < 12 {
		return nil, false
	}
	n := int(be.Uint16(ttf[4:]))
	dirEnd := 12 + 16*n
	if dirEnd > len(ttf) {
		return nil, false
	}
	out := make([]byte, dirEnd, len(ttf)+len(data))
	copy(out, ttf[:dirEnd])
	headAt := -1
	// The checksum of the whole font is the sum of those of the directory
	// and the tables; an unchanged table keeps the checksum it has, so a
	// large font is not summed again.
	var total uint32
	for i := 0; i < n; i++ {
		rec := 12 + 16*i
		t := string(ttf[rec : rec+4])
		off, size := int(be.Uint32(ttf[rec+8:])), int(be.Uint32(ttf[rec+12:]))
		if off < 0 || size < 0 || off+size > len(ttf) {
			return nil, false
		}
		body := ttf[off : off+size]
		if t == tag {
			body = data
		}
		at := len(out)
		out = append(out, body...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
		if t == "head" {
			headAt = at
			be.PutUint32(out[at+8:], 0) // checkSumAdjustment, set below
		}
		sum := be.Uint32(ttf[rec+4:])
		if t == tag || t == "head" {
			sum = checksum(out[at : at+len(body)])
		}
		total += sum
		be.PutUint32(out[rec+4:], sum)
		be.PutUint32(out[rec+8:], uint32(at))
		be.PutUint32(out[rec+12:], uint32(len(body)))
	}
	if headAt >= 0 && headAt+12 <= len(out) {
		be.PutUint32(out[headAt+8:], 0xB1B0AFBA-(total+checksum(out[:dirEnd])))
	}
	return out, true
}

func checksum(b []byte) uint32 {
	var sum uint32
	for i := 0; i < len(b); i += 4 {
		var w [4]byte
		copy(w[:], b[i:min(i+4, len(b))])
		sum += binary.BigEndian.Uint32(w[:])
	}
	return sum
}
