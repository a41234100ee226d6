package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/paperflow/paperflow/plugins/internal/recordfile"
)

// ndjsonReader reads one JSON object per line. A bad line is an error
// record and reading goes on with the next line.
type ndjsonReader struct {
	f    *recordfile.File
	name string
	line int    // lines read so far
	long []byte // holds a line longer than the bufio buffer
}

func (n *ndjsonReader) Close() error { return n.f.Close() }

// next implements records. Empty lines are skipped.
func (n *ndjsonReader) next() (record, error) {
	for {
		text, tooLong, err := n.readLine()
		if err == io.EOF && len(text) == 0 && !tooLong {
			return record{}, io.EOF
		}
		if err != nil && err != io.EOF {
			return record{}, fmt.Errorf("%s: read: %w", n.name, err)
		}
		n.line++
		if tooLong {
			return record{line: n.line, err: fmt.Sprintf("the line is longer than %d MiB", maxRecordBytes>>20)}, nil
		}
		text = bytes.TrimSpace(text)
		if len(text) == 0 {
			continue
		}
		obj, err := compact(text)
		if err != nil {
			return record{line: n.line, err: fmt.Sprintf("line is not valid JSON: %v (NDJSON has one complete JSON object per line)", err)}, nil
		}
		return objectRecord(n.line, obj, "line"), nil
	}
}

// readLine returns the next line, without bounding its length by the
// bufio buffer but by maxRecordBytes; longer lines are skipped whole.
func (n *ndjsonReader) readLine() (line []byte, tooLong bool, err error) {
	line, err = n.f.In.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, false, err
	}
	n.long = append(n.long[:0], line...)
	for err == bufio.ErrBufferFull {
		line, err = n.f.In.ReadSlice('\n')
		if len(n.long)+len(line) > maxRecordBytes {
			tooLong = true
		}
		if !tooLong {
			n.long = append(n.long, line...)
		}
	}
	if tooLong {
		n.long = nil // do not keep a big buffer around
		return nil, true, err
	}
	return n.long, false, err
}
