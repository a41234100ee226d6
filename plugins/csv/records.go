package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/paperflow/paperflow/plugins/internal/recordfile"
)

// record is one CSV record, or what is wrong with it.
type record struct {
	line   int      // line where the record starts, from 1
	fields []string // valid until the next call of next
	err    string   // what is wrong, without the "file:line: " prefix
}

// recordReader reads a CSV file record by record in bounded memory. It
// wraps encoding/csv, adds the checks encoding/csv leaves to its caller
// (column count, UTF-8) and recovers from malformed records (see resync).
type recordReader struct {
	file      *recordfile.File
	name      string // the file's base name, for origins and messages
	d         dialect
	maxRecord int64 // bytes one record may take: recordfile.MaxRecordBytes
	header    []string

	csv *csv.Reader
	in  *recordfile.Bounded
	// base is the file offset where csv started reading, lineBase the number
	// of lines before it: csv counts offsets and lines from its own start.
	base     int64
	lineBase int
	// nextLine is the line at csv's current offset.
	nextLine int
}

// openRecords opens a CSV file and reads its header. The errors name the
// file, and the line for a bad header. One record may take up to
// recordfile.MaxRecordBytes: without a bound, a quote that is never closed
// would make encoding/csv buffer the rest of the file as one field.
func openRecords(path string, d dialect) (*recordReader, error) {
	return openRecordsWithin(path, d, recordfile.MaxRecordBytes)
}

// openRecordsWithin is openRecords with another bound on one record, for
// tests that reach the bound without writing megabytes.
func openRecordsWithin(path string, d dialect, maxRecord int64) (*recordReader, error) {
	f, err := recordfile.Open(path)
	if err != nil {
		return nil, err
	}
	r := &recordReader{file: f, name: f.Name, d: d, maxRecord: maxRecord}
	if err := r.start(); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func (r *recordReader) Close() error { return r.file.Close() }

// start reads the header. The file is open past its BOM: left in, a BOM
// would glue to the first header name, or make a quoted first name a "bare
// quote" error.
func (r *recordReader) start() error {
	r.restart(r.file.In, r.file.Start, 0)

	rec, err := r.next()
	if err == io.EOF {
		return fmt.Errorf("%s: the file is empty: the first line must be the header (the field names)", r.name)
	}
	if err != nil {
		return err
	}
	if rec.err != "" {
		return fmt.Errorf("%s:%d: header row: %s", r.name, rec.line, rec.err)
	}
	header, err := checkHeader(rec.fields)
	if err != nil {
		return fmt.Errorf("%s:%d: header row: %w", r.name, rec.line, err)
	}
	r.header = header
	return nil
}

// checkHeader trims the names and refuses empty or repeated ones.
func checkHeader(fields []string) ([]string, error) {
	header := make([]string, len(fields))
	seen := make(map[string]int, len(fields))
	for i, f := range fields {
		name := strings.TrimSpace(f)
		if name == "" {
			return nil, fmt.Errorf("column %d has no name: every column needs a unique name", i+1)
		}
		if j, dup := seen[name]; dup {
			return nil, fmt.Errorf("column %d is named %q like column %d: column names must be unique", i+1, name, j+1)
		}
		seen[name] = i
		header[i] = name
	}
	return header, nil
}

// restart makes a fresh encoding/csv reader over in, which is at file
// offset base and after line lineBase.
func (r *recordReader) restart(in io.Reader, base int64, lineBase int) {
	r.in = &recordfile.Bounded{R: in, Pos: base, Limit: base + r.maxRecord}
	r.csv = csv.NewReader(r.in)
	r.csv.Comma = r.d.comma
	r.csv.Comment = r.d.comment
	r.csv.FieldsPerRecord = -1 // the column count is checked here, with a better message
	r.csv.LazyQuotes = false
	r.csv.ReuseRecord = true
	r.base, r.lineBase, r.nextLine = base, lineBase, lineBase+1
}

// next returns the next record, io.EOF at the end, or an I/O error. A
// malformed record is a record with err set, never an error.
func (r *recordReader) next() (record, error) {
	for {
		start := r.base + r.csv.InputOffset()
		r.in.Limit, r.in.Tripped = start+r.maxRecord, false
		fields, err := r.csv.Read()
		var perr *csv.ParseError
		switch {
		case err == io.EOF:
			return record{}, io.EOF
		case r.in.Tripped || errors.Is(err, recordfile.ErrRecordTooLong):
			// Checked before a parse error: encoding/csv parses the line
			// the bound cut short, and may find a mistake in it, but it
			// stops in the middle of the line, where no record starts.
			line, err := r.resync(start)
			if err != nil {
				return record{}, err
			}
			msg := fmt.Sprintf("the record is longer than %s, probably because of a quote that is never closed; reading goes on at line %d",
				byteSize(r.maxRecord), line+1)
			return record{line: line, err: msg}, nil
		case errors.As(err, &perr):
			return r.parseError(start, perr, fields)
		case err != nil:
			return record{}, fmt.Errorf("%s: read: %w", r.name, err)
		}

		first, _ := r.csv.FieldPos(0)
		last, _ := r.csv.FieldPos(len(fields) - 1)
		startLine := r.lineBase + first
		// A quoted field keeps its line breaks as "\n".
		endLine := r.lineBase + last + strings.Count(fields[len(fields)-1], "\n")

		if r.header != nil && len(fields) != len(r.header) && endLine > startLine {
			// A multi-line record with the wrong shape is most likely an
			// opening quote that was never closed and swallowed the rows
			// below it: read those again as rows.
			if _, err := r.resync(start); err != nil {
				return record{}, err
			}
			msg := fmt.Sprintf("row has %d columns, header has %d (a quoted field runs on to line %d: is a closing quote missing? reading goes on at line %d)",
				len(fields), len(r.header), endLine, startLine+1)
			return record{line: startLine, err: msg}, nil
		}
		r.nextLine = endLine + 1
		if r.header != nil && isBlank(fields) && len(r.header) > 1 {
			continue // a line of spaces is an empty line too
		}
		if r.header != nil && len(fields) != len(r.header) {
			return record{line: startLine, err: fmt.Sprintf("row has %d columns, header has %d", len(fields), len(r.header))}, nil
		}
		for i, f := range fields {
			switch {
			case !utf8.ValidString(f):
				return record{line: startLine, err: fmt.Sprintf("%s is not valid UTF-8: save the file as UTF-8", r.field(i))}, nil
			case strings.IndexByte(f, 0) >= 0:
				// Text has no NUL; a NUL is a sign of a binary file, or of
				// UTF-16 without a byte order mark.
				return record{line: startLine, err: fmt.Sprintf("%s has a NUL byte, which text never has: save the file as UTF-8 text", r.field(i))}, nil
			}
		}
		return record{line: startLine, fields: fields}, nil
	}
}

// parseError turns an encoding/csv error into a record error. fields holds
// the fields read before the error.
func (r *recordReader) parseError(start int64, perr *csv.ParseError, fields []string) (record, error) {
	startLine := r.lineBase + perr.StartLine
	errLine := r.lineBase + perr.Line
	field := r.field(len(fields))
	if errLine > startLine {
		// encoding/csv read on past the record's first line looking for a
		// closing quote. It has no way back: its error comes after the rows
		// it swallowed. resync rereads them.
		if _, err := r.resync(start); err != nil {
			return record{}, err
		}
		// A record only goes on to a next line inside quotes, so the quote
		// at fault opened on its first line.
		msg := fmt.Sprintf("a quoted value starting on this line is not closed properly: it runs on to line %d; reading goes on at line %d",
			errLine, startLine+1)
		if errors.Is(perr.Err, csv.ErrBareQuote) {
			msg = fmt.Sprintf(`a quoted value starting on this line runs on to line %d, where %s has a " inside an unquoted value; reading goes on at line %d`,
				errLine, field, startLine+1)
		}
		return record{line: startLine, err: msg}, nil
	}
	r.nextLine = r.lineBase + perr.Line + 1
	var msg string
	switch {
	case errors.Is(perr.Err, csv.ErrBareQuote):
		msg = fmt.Sprintf(`%s has a " inside an unquoted value (byte %d of the line): quote the whole value and double the quotes inside, e.g. "Amara ""Ama"" Okafor"`, field, perr.Column)
	case errors.Is(perr.Err, csv.ErrQuote):
		msg = fmt.Sprintf(`%s is quoted but has text after its closing quote (byte %d of the line): a quoted value ends with " before the delimiter or the line end; write a " inside it as ""`, field, perr.Column)
	default:
		msg = fmt.Sprintf("%s: %v (byte %d of the line)", field, perr.Err, perr.Column)
	}
	return record{line: startLine, err: msg}, nil
}

// resync restarts reading on the line after the first line of the record
// that began at file offset start, and returns that record's first line.
//
// encoding/csv cannot resynchronise by itself: after an opening quote that
// is never properly closed it consumes every following line up to the next
// quote (or the end of the file, or the record bound), and those lines are
// usually the rows that matter. So we seek back to the record, skip what
// encoding/csv skips before a record (empty and comment lines) plus the
// record's first line, and start a new reader there. This cannot catch an
// unclosed quote that happens to swallow lines into a record of exactly
// the header's width; no CSV reader can tell that from a multi-line value.
func (r *recordReader) resync(start int64) (int, error) {
	if err := r.file.Reread(start); err != nil {
		return 0, err
	}
	br := r.file.In
	offset, line := start, r.nextLine
	for {
		n, blank, err := r.skipLine(br)
		offset += n
		if err == io.EOF && n == 0 {
			break
		}
		if err != nil && err != io.EOF {
			return 0, fmt.Errorf("%s: read: %w", r.name, err)
		}
		if !blank || err == io.EOF {
			break
		}
		line++
	}
	r.restart(br, offset, line)
	return line, nil
}

// skipLine consumes one line and says whether encoding/csv would skip it
// as empty or as a comment.
func (r *recordReader) skipLine(br *bufio.Reader) (n int64, blank bool, err error) {
	var first []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if first == nil {
			first = append([]byte(nil), chunk[:min(len(chunk), utf8.UTFMax)]...)
		}
		n += int64(len(chunk))
		if err == bufio.ErrBufferFull {
			continue
		}
		trimmed := bytes.TrimSuffix(bytes.TrimSuffix(first, []byte("\n")), []byte("\r"))
		blank = n <= 2 && len(trimmed) == 0
		if c, _ := utf8.DecodeRune(first); r.d.comment != 0 && c == r.d.comment {
			blank = true
		}
		return n, blank, err
	}
}

// field names a column for messages: `field 2 ("Last Name")`.
func (r *recordReader) field(i int) string {
	if i < len(r.header) {
		return fmt.Sprintf("field %d (%q)", i+1, r.header[i])
	}
	return fmt.Sprintf("field %d", i+1)
}

// byteSize writes n as "8 MiB", or in bytes when it is no whole MiB.
func byteSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func isBlank(fields []string) bool {
	return len(fields) == 1 && strings.TrimSpace(fields[0]) == ""
}
