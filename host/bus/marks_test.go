package bus

import "testing"

func TestCompareMarks(t *testing.T) {
	m := func(first, last, msgs uint64, shrinks bool) streamMark {
		return streamMark{FirstSeq: first, LastSeq: last, Msgs: msgs, Shrinks: shrinks}
	}
	for _, tc := range []struct {
		name    string
		clean   bool
		was     streamMark
		now     *streamMark
		lost    uint64
		atLeast bool
	}{
		{"unchanged", true, m(1, 10, 10, false), &streamMark{FirstSeq: 1, LastSeq: 10, Msgs: 10}, 0, false},
		{"grew", false, m(1, 10, 10, false), &streamMark{FirstSeq: 1, LastSeq: 20, Msgs: 20}, 0, false},
		{"end cut off", true, m(1, 6000, 6000, false), &streamMark{FirstSeq: 1, LastSeq: 1554, Msgs: 1554}, 4446, false},
		{"end cut off after a crash", false, m(1, 6000, 6000, false), &streamMark{FirstSeq: 1, LastSeq: 1554, Msgs: 1554}, 4446, true},
		{"middle lost", true, m(1, 10, 10, false), &streamMark{FirstSeq: 1, LastSeq: 10, Msgs: 7}, 3, false},
		{"only bucket key lost", true, m(1, 1, 1, false), &streamMark{FirstSeq: 2, LastSeq: 1, Msgs: 0}, 1, false},
		{"work queue consumed", true, m(1, 10, 10, true), &streamMark{FirstSeq: 8, LastSeq: 10, Msgs: 3, Shrinks: true}, 0, false},
		{"fewer after a crash", false, m(1, 10, 10, false), &streamMark{FirstSeq: 1, LastSeq: 10, Msgs: 7}, 0, false},
		{"stream gone", true, m(1, 10, 10, false), nil, 10, false},
		{"empty stream gone", true, m(0, 0, 0, false), nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := map[string]streamMark{}
			if tc.now != nil {
				now["S"] = *tc.now
			}
			got := compareMarks(storeRecord{Clean: tc.clean, Streams: map[string]streamMark{"S": tc.was}}, now)
			if tc.lost == 0 {
				if len(got) != 0 {
					t.Fatalf("damage %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].Lost != tc.lost || got[0].AtLeast != tc.atLeast {
				t.Fatalf("damage %+v, want %d lost (at least: %v)", got, tc.lost, tc.atLeast)
			}
		})
	}
}
