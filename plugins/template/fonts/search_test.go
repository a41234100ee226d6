package fonts

import (
	"encoding/binary"
	"testing"
)

// TestSearchHeader checks the fields against the examples of the TrueType
// specification: a directory of n tables (16 bytes each), a cmap format 4
// subtable's segCountX2 fields (2 bytes a segment).
func TestSearchHeader(t *testing.T) {
	for _, tc := range []struct {
		n, size                   int
		rng, selector, rangeShift uint16
	}{
		{1, 16, 16, 0, 0},
		{9, 16, 128, 3, 16},
		{16, 16, 256, 4, 0},
		{2, 2, 4, 1, 0},
		{3, 2, 4, 1, 2},
		{39, 2, 64, 5, 14},
	} {
		b := make([]byte, 6)
		putSearchHeader(b, tc.n, tc.size)
		be := binary.BigEndian
		if got := [3]uint16{be.Uint16(b), be.Uint16(b[2:]), be.Uint16(b[4:])}; got != [3]uint16{tc.rng, tc.selector, tc.rangeShift} {
			t.Errorf("n=%d size=%d: %v, want %v", tc.n, tc.size, got, [3]uint16{tc.rng, tc.selector, tc.rangeShift})
		}
	}
}
