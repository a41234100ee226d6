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
