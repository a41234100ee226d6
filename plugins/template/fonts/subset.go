package fonts

import (
	"encoding/binary"
	"errors"
	"slices"
)

// Subset returns a TrueType program with the glyphs listed (and the glyphs
// they are built from) and no others, for embedding in a PDF. Glyph ids
// stay as they are: the glyphs not kept are empty, and the font ends at
// the highest id kept, so a PDF addresses glyphs by their ids in f
// (Identity CID to glyph mapping). The program has no character map; a
// PDF maps codes to glyphs itself.
//
// The program has no hinting: no glyph instructions and no cvt, fpgm or
// prep table. Hinting fits outlines to the pixel grid of old screens at
// small sizes; PDF viewers and printers draw the outlines without it, and
// in DejaVu it is more than half of each glyph's bytes: without it the
// README letter's two subsets take 13 KB instead of 29 KB, in every
// document, its store and its emails.
func (f *Face) Subset(glyphs []uint16) ([]byte, error) {
	if err := f.Err(); err != nil {
		return nil, err
	}
	ttf := f.Data
	be := binary.BigEndian
	head, _ := table(ttf, "head")
	hhea, _ := table(ttf, "hhea")
	maxp, _ := table(ttf, "maxp")
	hmtx, _ := table(ttf, "hmtx")
	loca, okLoca := table(ttf, "loca")
	glyf, okGlyf := table(ttf, "glyf")
	if !okLoca || !okGlyf {
		return nil, errors.New("font " + f.Name + ": no TrueType outlines")
	}
	n := len(f.adv)
	long := be.Uint16(head[50:]) != 0
	if (long && len(loca) < 4*(n+1)) || (!long && len(loca) < 2*(n+1)) {
		return nil, errors.New("font " + f.Name + ": short glyph index")
	}
	span := func(g int) (int, int) {
		var a, b int
		if long {
			a, b = int(be.Uint32(loca[4*g:])), int(be.Uint32(loca[4*g+4:]))
		} else {
			a, b = 2*int(be.Uint16(loca[2*g:])), 2*int(be.Uint16(loca[2*g+2:]))
		}
		if a > b || b > len(glyf) {
			return 0, 0
		}
		return a, b
	}

	// The glyphs to keep: those asked for, the missing glyph, and the
	// components of composite glyphs, to any depth.
	keep := make([]bool, n)
	keep[0] = true
	todo := []int{0}
	for _, g := range glyphs {
		if int(g) < n && !keep[g] {
			keep[g] = true
			todo = append(todo, int(g))
		}
	}
	for len(todo) > 0 {
		g := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		a, b := span(g)
		for _, c := range components(glyf[a:b]) {
			if int(c) < n && !keep[c] {
				keep[c] = true
				todo = append(todo, int(c))
			}
		}
	}
	last := 0
	size := 0
	for g := range n {
		if keep[g] {
			last = g
			a, b := span(g)
			size += (b - a + 3) &^ 3
		}
	}
	count := last + 1

	newGlyf := make([]byte, 0, size)
	newLoca := make([]byte, 4*(count+1))
	newHmtx := make([]byte, 4*count)
	hlong := int(be.Uint16(hhea[34:]))
	for g := range count {
		be.PutUint32(newLoca[4*g:], uint32(len(newGlyf)))
		if !keep[g] {
			continue
		}
		a, b := span(g)
		newGlyf = appendUnhinted(newGlyf, glyf[a:b])
		for len(newGlyf)%4 != 0 {
			newGlyf = append(newGlyf, 0)
		}
		// Advance and left side bearing; the rasteriser uses both.
		var adv, lsb uint16
		if g < hlong {
			adv, lsb = be.Uint16(hmtx[4*g:]), be.Uint16(hmtx[4*g+2:])
		} else {
			adv = be.Uint16(hmtx[4*(hlong-1):])
			if at := 4*hlong + 2*(g-hlong); at+2 <= len(hmtx) {
				lsb = be.Uint16(hmtx[at:])
			}
		}
		be.PutUint16(newHmtx[4*g:], adv)
		be.PutUint16(newHmtx[4*g+2:], lsb)
	}
	be.PutUint32(newLoca[4*count:], uint32(len(newGlyf)))

	newHead := slices.Clone(head)
	be.PutUint32(newHead[8:], 0)  // checkSumAdjustment, set below
	be.PutUint16(newHead[50:], 1) // long glyph offsets
	newHhea := slices.Clone(hhea)
	be.PutUint16(newHhea[34:], uint16(count))
	newMaxp := slices.Clone(maxp)
	be.PutUint16(newMaxp[4:], uint16(count))

	return assemble([]struct {
		tag  string
		data []byte
	}{
		{"glyf", newGlyf}, {"head", newHead}, {"hhea", newHhea},
		{"hmtx", newHmtx}, {"loca", newLoca}, {"maxp", newMaxp},
	}), nil
}

// appendUnhinted appends glyph g without its instructions: a simple
// glyph's instruction length set to 0, a composite glyph's instructions
// after its last component dropped along with the flag announcing them.
// A glyph it cannot read is appended as it is.
func appendUnhinted(dst, g []byte) []byte {
	be := binary.BigEndian
	if len(g) < 10 {
		return append(dst, g...)
	}
	if n := int(int16(be.Uint16(g))); n >= 0 {
		at := 10 + 2*n // the instruction length, after the contours' end points
		if at+2 > len(g) || at+2+int(be.Uint16(g[at:])) > len(g) {
			return append(dst, g...)
		}
		dst = append(dst, g[:at]...)
		dst = append(dst, 0, 0)
		return append(dst, g[at+2+int(be.Uint16(g[at:])):]...)
	}
	at := 10
	for {
		if at+4 > len(g) {
			return append(dst, g...)
		}
		flags := be.Uint16(g[at:])
		next := at + 4 + componentArgsLen(flags)
		if next > len(g) {
			return append(dst, g...)
		}
		if flags&0x0020 != 0 { // more components
			at = next
			continue
		}
		if flags&0x0100 == 0 { // no instructions
			return append(dst, g...)
		}
		start := len(dst)
		dst = append(dst, g[:next]...)
		be.PutUint16(dst[start+at:], flags&^0x0100)
		return dst
	}
}

// componentArgsLen is the size of a composite glyph component's arguments
// and transform, after its flags and glyph index.
func componentArgsLen(flags uint16) int {
	n := 2
	if flags&0x0001 != 0 { // arguments are words
		n = 4
	}
	switch {
	case flags&0x0008 != 0: // one scale
		n += 2
	case flags&0x0040 != 0: // x and y scales
		n += 4
	case flags&0x0080 != 0: // two by two
		n += 8
	}
	return n
}

// putSearchHeader writes at b the three fields TrueType puts before a
// table of n entries of size bytes that is searched by halving (the table
// directory, a cmap's segments): searchRange, size times the largest power
// of two at most n; entrySelector, that power's log2; rangeShift, size
// times n less searchRange.
func putSearchHeader(b []byte, n, size int) {
	power, log2 := 1, 0
	for power*2 <= n {
		power *= 2
		log2++
	}
	be := binary.BigEndian
	be.PutUint16(b[0:], uint16(size*power))
	be.PutUint16(b[2:], uint16(log2))
	be.PutUint16(b[4:], uint16(size*n-size*power))
}

// assemble writes a TrueType file of the tables, given sorted by tag, with
// its directory and checksums.
func assemble(tables []struct {
	tag  string
	data []byte
}) []byte {
	be := binary.BigEndian
	nt := len(tables)
	dirEnd := 12 + 16*nt
	total := dirEnd
	for _, t := range tables {
		total += (len(t.data) + 3) &^ 3
	}
	out := make([]byte, dirEnd, total)
	be.PutUint32(out[0:], 0x00010000)
	be.PutUint16(out[4:], uint16(nt))
	putSearchHeader(out[6:], nt, 16)
	headAt := -1
	for i, t := range tables {
		at := len(out)
		out = append(out, t.data...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
		if t.tag == "head" {
			headAt = at
		}
		rec := 12 + 16*i
		copy(out[rec:], t.tag)
		be.PutUint32(out[rec+4:], checksum(out[at:at+len(t.data)]))
		be.PutUint32(out[rec+8:], uint32(at))
		be.PutUint32(out[rec+12:], uint32(len(t.data)))
	}
	if headAt >= 0 {
		be.PutUint32(out[headAt+8:], 0xB1B0AFBA-checksum(out))
	}
	return out
}

// components lists the glyphs a composite glyph is built from; none for a
// simple glyph.
func components(g []byte) []uint16 {
	be := binary.BigEndian
	if len(g) < 10 || int16(be.Uint16(g)) >= 0 {
		return nil
	}
	var out []uint16
	for at := 10; at+4 <= len(g); {
		flags := be.Uint16(g[at:])
		out = append(out, be.Uint16(g[at+2:]))
		at += 4 + componentArgsLen(flags)
		if flags&0x0020 == 0 { // no more components
			break
		}
	}
	return out
}
