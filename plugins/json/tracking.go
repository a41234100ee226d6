package main

import (
	"bytes"
	"io"
)

// trackingReader sits under a json.Decoder. It maps the decoder's byte
// offsets to line numbers, which the decoder does not report, and fails
// with errRecordTooLong when reading goes past limit.
//
// It remembers where the line breaks are in the bytes the decoder has
// read ahead; lineAt forgets the ones before the offset asked for, so
// memory stays bounded by the decoder's buffer.
type trackingReader struct {
	r        io.Reader
	pos      int64   // offset of the next byte, counted from the decoder's start
	limit    int64   // 0: none
	newlines []int64 // offsets of the line breaks not yet counted
	counted  int     // line breaks before newlines[0]
}

func (t *trackingReader) Read(p []byte) (int, error) {
	if t.limit > 0 {
		if t.pos >= t.limit {
			return 0, errRecordTooLong
		}
		if rest := t.limit - t.pos; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	n, err := t.r.Read(p)
	for i := 0; i < n; {
		j := bytes.IndexByte(p[i:n], '\n')
		if j < 0 {
			break
		}
		t.newlines = append(t.newlines, t.pos+int64(i+j))
		i += j + 1
	}
	t.pos += int64(n)
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
