package fonts

import "testing"

func TestCoverage(t *testing.T) {
	for _, f := range []*Face{Regular, Bold, Mono} {
		if err := f.Err(); err != nil {
			t.Fatal(err)
		}
		for _, r := range "AZaz09 Zoë Ångström Łukasz €—•" {
			if !f.Has(r) {
				t.Errorf("%s lacks %q", f.Name, r)
			}
		}
		for _, r := range []rune{0x1F642, 0xE000, 0x4E2D, -1} {
			if f.Has(r) {
				t.Errorf("%s claims %U", f.Name, r)
			}
		}
	}
	for _, r := range "שלום مرحبا Привет Ωμέγα" {
		if r != ' ' && !Regular.Has(r) {
			t.Errorf("%s lacks %q", Regular.Name, r)
		}
	}
}

func TestBrokenFontIsAnError(t *testing.T) {
	f := &Face{Name: "broken", Data: []byte("not a font")}
	if f.Err() == nil || f.Has('a') {
		t.Fatal("a broken font must report an error and no glyphs")
	}
}

func TestWidths(t *testing.T) {
	if w := Regular.Width('W'); w < 900 || w > 1100 {
		t.Errorf("width of W in %s: %d thousandths", Regular.Name, w)
	}
	if Mono.Width('i') != Mono.Width('W') {
		t.Errorf("%s is not monospaced: i %d, W %d", Mono.Name, Mono.Width('i'), Mono.Width('W'))
	}
	if Regular.Width(0x1F642) != 0 {
		t.Error("a missing rune has a width")
	}
}

func TestCore(t *testing.T) {
	for _, f := range []*Face{Regular, Bold, Mono} {
		c := f.Core()
		if c == f {
			t.Fatalf("%s: no core face", f.Name)
		}
		if err := c.Err(); err != nil {
			t.Fatal(err)
		}
		for _, r := range "AZaz09 Zoë Ångström Łukasz €—•◦▪ Ωμέγα Привет ệ\ufffd" {
			if f.Has(r) && !c.Has(r) {
				t.Errorf("%s core lacks %q", f.Name, r)
			}
			if c.Width(r) != f.Width(r) {
				t.Errorf("%s core: width of %q %d, full %d", f.Name, r, c.Width(r), f.Width(r))
			}
		}
		for _, r := range "שمあ" {
			if c.Has(r) {
				t.Errorf("%s core has %q", f.Name, r)
			}
		}
		if len(c.Data) == len(f.Data) {
			t.Errorf("%s: core font as large as the full one", f.Name)
		}
	}
	if !Regular.Covers("Zoë Łukasz € 🙂") || Regular.Covers("שלום") {
		t.Error("Covers")
	}
}
