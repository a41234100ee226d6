package main

import (
	"bytes"

	"github.com/paperflow/paperflow/plugins/internal/recordfile"
)

// trackingReader sits under a json.Decoder. It maps the decoder's byte
// offsets to line numbers, which the decoder does not report, and fails
// with recordfile.ErrRecordTooLong when reading goes past Limit.
//
// It remembers where the line breaks are in the bytes the decoder has
// read ahead; lineAt forgets the ones before the offset asked for, so
// memory stays bounded by the decoder's buffer.
type trackingReader struct {
	// Bounded reads, from the decoder's start: Pos counts from there.
	recordfile.Bounded
	newlines []int64 // offsets of the line breaks not yet counted
	counted  int     // line breaks before newlines[0]
}

func (t *trackingReader) Read(p []byte) (int, error) {
	start := t.Pos
	n, err := t.Bounded.Read(p)
	for i := 0; i < n; {
		j := bytes.IndexByte(p[i:n], '\n')
		if j < 0 {
			break
		}
		t.newlines = append(t.newlines, start+int64(i+j))
		i += j + 1
	}
	return n, err
}

// lineAt returns the line, from 1, of the byte at offset off. Offsets must
// not go down from one call to the next.
func (t *trackingReader) lineAt(off int64) int {
	k := 0
	for k < len(t.newlines) && t.newlines[k] < off {
		k++
	}
	t.counted += k
	t.newlines = t.newlines[k:]
	return t.counted + 1
}
