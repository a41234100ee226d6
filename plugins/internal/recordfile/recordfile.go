// Package recordfile is what paperflow's file sources (csv, json) share
// about reading a file record by record: where the file is, how it is
// opened (past a byte order mark, through a read-ahead buffer), the bound on
// one record, and how a record becomes an item named by file and line.
package recordfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// MaxRecordBytes bounds one record. Without a bound, a quote, string or
// bracket that is never closed would make a reader buffer the rest of a
// large file as one value.
const MaxRecordBytes = 8 << 20

// ReadBufferSize is the read-ahead on a file: a parser's own small buffer
// then copies from memory instead of making a system call per few KiB.
const ReadBufferSize = 64 << 10

// ErrRecordTooLong is what a Bounded reader fails with past its limit.
var ErrRecordTooLong = errors.New("record too long")

var (
	utf8BOM  = []byte{0xEF, 0xBB, 0xBF}
	utf16BOM = [][]byte{{0xFF, 0xFE}, {0xFE, 0xFF}}
)

// Path is the file a source's with: path names, resolved against the
// workflow's folder; an empty path is an error that says, after the
// block's name, which file is wanted (what).
func Path(c sdk.Config, block, path, what string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s: with.path is required: %s to read, relative to the workflow file", block, what)
	}
	return c.Path(path), nil
}

// File is a source's file opened for reading.
type File struct {
	f *os.File
	// Name is the file's base name, for origins and messages.
	Name string
	// In reads the file from Start through a read-ahead buffer.
	In *bufio.Reader
	// Start is the offset where In began: after a UTF-8 byte order mark,
	// which editors on Windows like to add and no record format wants.
	Start int64
}

// Open opens path as a File. A file that starts with a UTF-16 byte order
// mark is refused with an error that says to save it as UTF-8.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r := &File{f: f, Name: filepath.Base(path), In: bufio.NewReaderSize(f, ReadBufferSize)}
	head, _ := r.In.Peek(len(utf8BOM))
	for _, bom := range utf16BOM {
		if bytes.HasPrefix(head, bom) {
			f.Close()
			return nil, fmt.Errorf("%s: the file is UTF-16 (it starts with a byte order mark): save it as UTF-8", r.Name)
		}
	}
	if bytes.Equal(head, utf8BOM) {
		_, _ = r.In.Discard(len(utf8BOM))
		r.Start = int64(len(utf8BOM))
	}
	return r, nil
}

// Reread moves In to offset of the file, for a reader that goes back to
// where a record began.
func (r *File) Reread(offset int64) error {
	if _, err := r.f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Errorf("%s: seek: %w", r.Name, err)
	}
	r.In.Reset(r.f)
	return nil
}

// Close closes the file.
func (r *File) Close() error { return r.f.Close() }

// Bounded passes on what R reads, counting the bytes in Pos, and fails with
// ErrRecordTooLong once Pos reaches Limit (0: no limit), which the reader
// above moves along record by record.
type Bounded struct {
	R     io.Reader
	Pos   int64 // offset of the next byte
	Limit int64
	// Tripped is set when it failed; the reader above clears it.
	Tripped bool
}

func (b *Bounded) Read(p []byte) (int, error) {
	if b.Limit > 0 {
		if b.Pos >= b.Limit {
			b.Tripped = true
			return 0, ErrRecordTooLong
		}
		if rest := b.Limit - b.Pos; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	n, err := b.R.Read(p)
	b.Pos += int64(n)
	return n, err
}

// Item makes the record that starts on line of the file name into an item
// whose origin says so ("orders.csv:12"): an error item when problem says
// what is wrong with the record, else the item made of it by item.
func Item(name string, line int, problem string, item func(origin string) (sdk.Item, error)) (sdk.Item, error) {
	origin := fmt.Sprintf("%s:%d", name, line)
	if problem != "" {
		return sdk.Item{Origin: origin, Err: origin + ": " + problem}, nil
	}
	return item(origin)
}
