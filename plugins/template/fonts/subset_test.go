package fonts

import (
	"encoding/binary"
	"testing"
)

func TestSubset(t *testing.T) {
	keep := []uint16{Regular.Glyph('A'), Regular.Glyph('Å'), Regular.Glyph('ǻ')}
	sub, err := Regular.Subset(keep)
	if err != nil {
		t.Fatal(err)
	}
	if len(sub) >= len(Regular.Data)/4 {
		t.Errorf("subset of %d bytes from %d", len(sub), len(Regular.Data))
	}
	if checksum(sub) != 0xB1B0AFBA {
		t.Error("whole-font checksum is not 0xB1B0AFBA")
	}
	be := binary.BigEndian
	maxp, _ := table(sub, "maxp")
	loca, _ := table(sub, "loca")
	glyf, _ := table(sub, "glyf")
	count := int(be.Uint16(maxp[4:]))
	outline := func(g uint16) []byte {
		a, b := be.Uint32(loca[4*int(g):]), be.Uint32(loca[4*int(g)+4:])
		return glyf[a:b]
	}
	var want []uint16
	for _, g := range keep {
		want = append(want, g)
		want = append(want, components(outline(g))...)
	}
	for _, g := range want {
		if int(g) >= count || len(outline(g)) == 0 {
			t.Errorf("glyph %d (or a component) lost", g)
		}
	}
	composite := false
	for _, g := range keep {
		composite = composite || len(components(outline(g))) > 0
	}
	if !composite {
		t.Error("no composite glyph among the ones tested")
	}
	if g := Regular.Glyph('B'); int(g) < count && len(outline(g)) != 0 {
		t.Error("a glyph not asked for kept its outline")
	}
}

// Runes beyond U+FFFF have glyphs too: DejaVu Sans has some emoticons.
func TestAstral(t *testing.T) {
	g := Regular.Glyph(0x1F600)
	if g == 0 || Regular.Rune(g) != 0x1F600 || Regular.Width(0x1F600) == 0 {
		t.Errorf("U+1F600: glyph %d, rune %U", g, Regular.Rune(g))
	}
	if Regular.Has(0x1F642) || Regular.Rune(Regular.Glyph('A')) != 'A' {
		t.Error("glyph lookups")
	}
}

// TestSubsetUnhinted: a subset has no hinting tables, no glyph keeps
// instructions, and each glyph's outline is the original's.
func TestSubsetUnhinted(t *testing.T) {
	be := binary.BigEndian
	for _, tc := range []struct {
		name string
		face *Face
		text string
	}{
		{"simple glyphs", Regular, "Invoice for Zoë"},
		{"composite glyphs", Regular, "Åǻ"},
		{"bold", Bold, "Total 980.50 €"},
		{"mono", Mono, "{{Email}}"},
	} {
		var keep []uint16
		for _, r := range tc.text {
			keep = append(keep, tc.face.Glyph(r))
		}
		sub, err := tc.face.Subset(keep)
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range []string{"cvt ", "fpgm", "prep"} {
			if _, ok := table(sub, tag); ok {
				t.Errorf("%s: the subset has a %q table", tc.name, tag)
			}
		}
		outline := func(font []byte, g uint16) []byte {
			loca, _ := table(font, "loca")
			glyf, _ := table(font, "glyf")
			head, _ := table(font, "head")
			var a, b int
			if be.Uint16(head[50:]) != 0 {
				a, b = int(be.Uint32(loca[4*int(g):])), int(be.Uint32(loca[4*int(g)+4:]))
			} else {
				a, b = 2*int(be.Uint16(loca[2*int(g):])), 2*int(be.Uint16(loca[2*int(g)+2:]))
			}
			return glyf[a:b]
		}
		for _, g := range keep {
			got, orig := outline(sub, g), outline(tc.face.Data, g)
			if len(orig) == 0 { // a space: no outline
				if len(got) != 0 {
					t.Errorf("%s: glyph %d: an outline where there was none", tc.name, g)
				}
				continue
			}
			if n := int(int16(be.Uint16(orig))); n >= 0 {
				at := 10 + 2*n
				if be.Uint16(got[at:]) != 0 {
					t.Errorf("%s: glyph %d keeps %d bytes of instructions", tc.name, g, be.Uint16(got[at:]))
				}
				// The points after the instructions are the original's.
				rest := orig[at+2+int(be.Uint16(orig[at:])):]
				if string(got[:at]) != string(orig[:at]) || string(got[at+2:at+2+len(rest)]) != string(rest) {
					t.Errorf("%s: glyph %d: outline changed", tc.name, g)
				}
				continue
			}
			for at := 10; ; {
				flags := be.Uint16(got[at:])
				if flags&0x0100 != 0 {
					t.Errorf("%s: composite glyph %d still announces instructions", tc.name, g)
				}
				at += 4 + componentArgsLen(flags)
				if flags&0x0020 == 0 {
					break
				}
			}
		}
	}
}
