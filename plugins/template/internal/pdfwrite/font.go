package pdfwrite

import (
	"fmt"
	"hash/fnv"
	"math/bits"
	"strconv"
	"sync"
	"unicode/utf16"

	"github.com/paperflow/paperflow/plugins/template/fonts"
)

// subset is what a document embeds for one face and one set of glyphs,
// ready to copy into any document with the same glyphs.
type subset struct {
	glyphs    []uint16
	name      string // PDF font name, with a tag for the glyph set
	program   []byte // the TrueType subset, compressed
	length1   int    // its length uncompressed
	widths    []byte // the W array
	toUnicode []byte // the ToUnicode CMap, compressed
	metrics   fonts.Metrics
}

type subsetKey struct {
	face   *fonts.Face
	glyphs string // the glyph bit set
}

// subsets caches subsets for the process. A template's documents use
// few distinct glyph sets (Text always uses a face's ASCII letters, so
// names in Latin letters change little); when the cache grows past
// maxCached bytes it starts again, which bounds memory for documents in
// many scripts.
var subsets struct {
	sync.Mutex
	m    map[subsetKey]*subset
	size int
}

const maxCached = 64 << 20

// ascii marks the printable ASCII glyphs of f in used, so that the glyph
// sets of documents in Latin letters are mostly the same and share one
// cached subset.
func ascii(f *fonts.Face, used []uint64) {
	for r := rune(0x20); r < 0x7f; r++ {
		if g := f.Glyph(r); int(g)/64 < len(used) {
			used[g/64] |= 1 << (g % 64)
		}
	}
}

func (fu *fontUse) subset() (*subset, error) {
	ascii(fu.face, fu.used)
	fu.used[0] |= 1 // the missing glyph
	raw := make([]byte, 0, 8*len(fu.used))
	last := 0
	for i, w := range fu.used {
		if w != 0 {
			last = i + 1
		}
	}
	for _, w := range fu.used[:last] {
		for s := 0; s < 64; s += 8 {
			raw = append(raw, byte(w>>s))
		}
	}
	key := subsetKey{fu.face, string(raw)}
	subsets.Lock()
	s, ok := subsets.m[key]
	subsets.Unlock()
	if ok {
		return s, nil
	}
	s, err := makeSubset(fu.face, fu.used)
	if err != nil {
		return nil, err
	}
	subsets.Lock()
	if subsets.m == nil || subsets.size > maxCached {
		subsets.m, subsets.size = map[subsetKey]*subset{}, 0
	}
	subsets.m[key] = s
	subsets.size += len(s.program) + len(s.widths) + len(s.toUnicode) + len(raw)
	subsets.Unlock()
	return s, nil
}

func makeSubset(f *fonts.Face, used []uint64) (*subset, error) {
	var glyphs []uint16
	for i, w := range used {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			glyphs = append(glyphs, uint16(64*i+b))
			w &^= 1 << b
		}
	}
	program, err := f.Subset(glyphs)
	if err != nil {
		return nil, err
	}
	h := fnv.New32a()
	h.Write([]byte(f.Name))
	for _, g := range glyphs {
		h.Write([]byte{byte(g >> 8), byte(g)})
	}
	sum := h.Sum32()
	tag := make([]byte, 6)
	for i := range tag {
		tag[i] = 'A' + byte(sum%26)
		sum /= 26
	}
	s := &subset{
		glyphs:  glyphs,
		name:    string(tag) + "+" + f.Name,
		program: deflateBest(program), length1: len(program),
		metrics: f.Metrics(),
	}

	// W: runs of consecutive glyph ids with their widths.
	w := []byte("[")
	for i := 0; i < len(glyphs); {
		j := i
		for j+1 < len(glyphs) && glyphs[j+1] == glyphs[j]+1 {
			j++
		}
		w = strconv.AppendInt(w, int64(glyphs[i]), 10)
		w = append(w, " ["...)
		for k := i; k <= j; k++ {
			if k > i {
				w = append(w, ' ')
			}
			w = strconv.AppendInt(w, int64(f.GlyphWidth(glyphs[k])), 10)
		}
		w = append(w, "] "...)
		i = j + 1
	}
	s.widths = append(w, ']')

	// ToUnicode: each glyph to the character it draws.
	var m []byte
	m = append(m, "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"...)
	var pairs [][2]int
	for _, g := range glyphs {
		if r := f.Rune(g); r != 0 {
			pairs = append(pairs, [2]int{int(g), int(r)})
		}
	}
	for len(pairs) > 0 {
		n := min(len(pairs), 100)
		m = fmt.Appendf(m, "%d beginbfchar\n", n)
		for _, p := range pairs[:n] {
			m = fmt.Appendf(m, "<%04X> <", p[0])
			for _, u := range utf16.Encode([]rune{rune(p[1])}) {
				m = fmt.Appendf(m, "%04X", u)
			}
			m = append(m, ">\n"...)
		}
		m = append(m, "endbfchar\n"...)
		pairs = pairs[n:]
	}
	m = append(m, "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"...)
	s.toUnicode = deflateBest(m)
	return s, nil
}

// write writes the five objects of a font, its subset s, from object
// number n on.
func (fu *fontUse) write(w *writer, n int, s *subset) {
	w.begin(n)
	w.s("<< /Type /Font /Subtype /Type0 /BaseFont /", s.name, " /Encoding /Identity-H /DescendantFonts [")
	w.ref(n + 1)
	w.s("] /ToUnicode ")
	w.ref(n + 4)
	w.s(" >>\nendobj\n")
	w.begin(n + 1)
	w.s("<< /Type /Font /Subtype /CIDFontType2 /BaseFont /", s.name,
		" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /CIDToGIDMap /Identity /FontDescriptor ")
	w.ref(n + 2)
	w.s(" /W ")
	w.buf = append(w.buf, s.widths...)
	w.s(" >>\nendobj\n")
	m := s.metrics
	w.begin(n + 2)
	w.s("<< /Type /FontDescriptor /FontName /", s.name, " /Flags 4 /FontBBox [")
	for i, v := range m.BBox {
		if i > 0 {
			w.s(" ")
		}
		w.int(v)
	}
	w.s("] /ItalicAngle ")
	w.buf = appendNum(w.buf, m.ItalicAngle)
	w.s(" /Ascent ")
	w.int(m.Ascent)
	w.s(" /Descent ")
	w.int(m.Descent)
	w.s(" /CapHeight ")
	w.int(m.CapHeight)
	w.s(" /StemV 80 /FontFile2 ")
	w.ref(n + 3)
	w.s(" >>\nendobj\n")
	w.stream(n+3, "/Length1 "+strconv.Itoa(s.length1), s.program)
	w.stream(n+4, "", s.toUnicode)
}

// FontData is a face cut down to the glyphs of a text, for a PDF that
// another library writes (a filled form): the parts of a Type 0 font with
// a CIDFontType2 descendant, Identity-H, whose codes are glyph ids (see
// Glyphs).
type FontData struct {
	Name      string   // the font name, with its subset tag
	Glyphs    []uint16 // the glyph ids in the subset, ascending; widths from the face
	Program   []byte   // the TrueType subset, FlateDecode-compressed
	Length1   int      // the subset's length uncompressed
	ToUnicode []byte   // the ToUnicode CMap, FlateDecode-compressed
	Metrics   fonts.Metrics
}

// Embed returns face cut down to the glyphs of text (and printable ASCII,
// as Text does), made once per glyph set and shared.
func Embed(face *fonts.Face, text string) (*FontData, error) {
	fu := &fontUse{face: face, used: make([]uint64, (face.Metrics().Glyphs+63)/64)}
	for _, r := range text {
		fu.mark(face.Glyph(r))
	}
	s, err := fu.subset()
	if err != nil {
		return nil, err
	}
	return &FontData{Name: s.name, Glyphs: s.glyphs, Program: s.program, Length1: s.length1, ToUnicode: s.toUnicode, Metrics: s.metrics}, nil
}

// Glyphs appends to dst the hexadecimal codes that show s in an Embed
// font of face: four digits per glyph.
func Glyphs(dst []byte, face *fonts.Face, s string) []byte {
	const hex = "0123456789ABCDEF"
	for _, r := range s {
		g := face.Glyph(r)
		dst = append(dst, hex[g>>12], hex[g>>8&15], hex[g>>4&15], hex[g&15])
	}
	return dst
}
