package mail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Entry is one message the outbox holds, as Messages lists it.
type Entry struct {
	// MessageID is the message's Message-ID, as EMAILS_CREATED reports it.
	MessageID string
	// File is the message's .eml file, or the spool segment holding it.
	File string
	// Offset is where the message starts in a spool segment; -1 for an
	// .eml file.
	Offset int64
	// Size is the message's length in bytes.
	Size int64

	recordOff int64 // where the message's spool record starts
}

// Location names the message for a person: the .eml file, or the
// segment and offset (mail-000001.spool@1234).
func (e Entry) Location() string {
	if e.Offset < 0 {
		return e.File
	}
	return e.File + "@" + strconv.FormatInt(e.Offset, 10)
}

// Find returns the raw message the outbox holds for messageID (as
// EMAILS_CREATED reports it): from the spool, or else from an .eml file
// (the last one when it was sent again). The spool is indexed by
// Message-ID and .eml files are named after a hash of it, so nothing is
// scanned to look.
func (o Outbox) Find(messageID string) ([]byte, error) {
	s, err := spoolFor(o.Dir)
	if err != nil {
		return nil, err
	}
	raw, ok, err := s.find(messageID, o.log())
	if ok || err != nil {
		return raw, err
	}
	return o.findFile(messageID)
}

// findFile finds messageID among the .eml files.
func (o Outbox) findFile(messageID string) ([]byte, error) {
	sum := sha256.Sum256([]byte(messageID))
	matches, err := filepath.Glob(filepath.Join(o.Dir, "*-"+hex.EncodeToString(sum[:6])+".eml"))
	if err != nil {
		return nil, err
	}
	if len(matches) == 0 {
		return nil, fmt.Errorf("message %s: not in the outbox %s: %w", messageID, o.Dir, os.ErrNotExist)
	}
	return os.ReadFile(matches[len(matches)-1])
}

// Messages lists every message in the outbox: .eml files first (the
// layout before the spool, so the older ones), then the spool's records
// in the order they were written. A record not whole at the end of a
// segment (being written, or cut short by a killed host) is not listed.
// One damaged in the middle of a segment is listed when its header still
// reads (Read then reports it damaged), else skipped with an error logged;
// the messages after it are listed either way.
func (o Outbox) Messages() ([]Entry, error) {
	files, err := o.List()
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", o.Dir, err)
	}
	var out []Entry
	for _, path := range files {
		e := Entry{File: path, Offset: -1}
		if st, err := os.Stat(path); err == nil {
			e.Size = st.Size()
		}
		if f, err := os.Open(path); err == nil {
			head := make([]byte, 16<<10)
			n, _ := f.Read(head)
			f.Close()
			e.MessageID = headerMessageID(head[:n])
		}
		out = append(out, e)
	}
	entries, err := os.ReadDir(o.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("outbox %s: %w", o.Dir, err)
	}
	var segs []int
	for _, e := range entries {
		if n := segmentNumber(e.Name()); n > 0 {
			segs = append(segs, n)
		}
	}
	slices.Sort(segs)
	for _, n := range segs {
		path := segmentPath(o.Dir, n)
		if out, err = o.segmentEntries(path, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// segmentEntries appends the messages of one segment to out.
func (o Outbox) segmentEntries(path string, out []Entry) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	end, _, torn, err := scanRecords(f, 0, st.Size(), false, func(r record) {
		out = append(out, Entry{MessageID: r.id, File: path, Offset: r.rawOff, Size: r.rawLen, recordOff: r.off})
	}, func(off, next int64) { logSkipped(o.log(), path, off, next) })
	if err != nil {
		return nil, fmt.Errorf("outbox: read %s: %w", path, err)
	}
	if torn {
		// Usually a message being written by a running host; one cut
		// short by a killed host is dropped, with a warning, by the
		// next writer.
		o.log().Debug("outbox: the message at the end of a segment is not whole (being written, or cut short); not listed",
			"segment", path, "offset", end, "bytes", st.Size()-end)
	}
	return out, nil
}

// Read returns an entry's message, checked against its checksum when it
// is spooled.
func (o Outbox) Read(e Entry) ([]byte, error) {
	if e.Offset < 0 {
		return os.ReadFile(e.File)
	}
	f, err := os.Open(e.File)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	st, err := f.Stat()
	if err == nil {
		var r record
		r, err = readRecord(f, e.recordOff, st.Size(), make([]byte, recordHeaderLen+128))
		if err == nil && (r.id != e.MessageID || r.rawOff != e.Offset) {
			err = errTorn
		}
		if err == nil {
			f.Close()
			return readMessage(e.File, r)
		}
	}
	f.Close()
	return nil, fmt.Errorf("outbox: no message %s at %s (list it with Messages): %w", e.MessageID, e.Location(), err)
}

// headerMessageID is the Message-ID header of a raw message, or "".
func headerMessageID(raw []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	return m.Header.Get("Message-ID")
}
