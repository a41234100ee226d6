package mail

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The spool keeps messages as records appended to segment files
// (mail-000001.spool, mail-000002.spool, …): creating a file per message
// costs far more kernel time than appending to an open one. A record is
//
//	"PFM\x01" | id length (uint16) | message length (uint32) | CRC-32C | Message-ID | message
//
// in big-endian, the CRC (Castagnoli) over the first 10 bytes, the id and
// the message. A record with an empty id seals its segment: the next
// message goes to the next segment. A segment is sealed once it holds
// Outbox.SegmentBytes (default DefaultSegmentBytes) or more.
//
// Appends are one record per message, under a mutex in the process and an
// flock on the segment between processes; the record has reached the
// kernel before Send returns, so a message the host records as sent
// survives a kill of the host (as the .eml files did: neither is fsynced,
// so neither survives a power cut). A record cut short (the host killed
// mid-append) is found by its length or CRC: readers stop before it, and
// the next writer truncates it and logs what it dropped. Only the end of
// a segment is ever cut: a record damaged where it lies, with whole
// records after it, is skipped (readers scan on to the next record whose
// CRC matches) and logged as an error, and stays in the file.
const (
	spoolPrefix     = "mail-"
	spoolSuffix     = ".spool"
	recordHeaderLen = 14
)

// DefaultSegmentBytes is the size at which a spool segment is sealed and
// the next one started: large enough that files are rarely created, small
// enough to copy or delete one at a time.
const DefaultSegmentBytes = 64 << 20

var (
	recordMagic = [4]byte{'P', 'F', 'M', 1}
	castagnoli  = crc32.MakeTable(crc32.Castagnoli)
	// errTorn is a record that is not whole: cut short or overwritten.
	errTorn = errors.New("record not whole")
)

// spools holds the state of every spooled outbox this process has used,
// by directory: Outbox is a value copied freely (the engine's transport,
// the console's mailbox), so the open segment and the index live here.
var spools sync.Map // string (absolute directory) → *spool

func spoolFor(dir string) (*spool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", dir, err)
	}
	if s, ok := spools.Load(abs); ok {
		return s.(*spool), nil
	}
	s, _ := spools.LoadOrStore(abs, &spool{dir: abs})
	return s.(*spool), nil
}

// spool is one outbox directory's segments as this process knows them.
type spool struct {
	dir string

	mu     sync.Mutex
	loaded bool
	segs   []*segment
	// index finds a record by the first 8 bytes of its Message-ID's
	// SHA-256; the record's own id is compared before it is trusted.
	index map[uint64]location
	// legacy holds the hashes naming .eml files (one file per message,
	// the layout before the spool), so a message written there is not
	// spooled again.
	legacy map[string]bool
	w      *os.File // the segment appended to; nil until the first Send
	wseg   *segment
}

// segment is one spool file and how far its records are whole.
type segment struct {
	num    int
	path   string
	end    int64 // the records before end are whole and indexed
	sealed bool
}

// location is a record: its segment's number and its offset.
type location struct {
	seg int32
	off uint32
}

// record is a record's header as read back.
type record struct {
	id       string
	off      int64 // where the record starts
	rawOff   int64 // where the message starts
	rawLen   int64
	crc      uint32
	hdrAndID []byte // the bytes the CRC covers before the message
}

func (r record) end() int64 { return r.rawOff + r.rawLen }

func idKey(messageID string) uint64 {
	sum := sha256.Sum256([]byte(messageID))
	return binary.BigEndian.Uint64(sum[:8])
}

func segmentPath(dir string, num int) string {
	return filepath.Join(dir, fmt.Sprintf("%s%06d%s", spoolPrefix, num, spoolSuffix))
}

// segmentNumber is the number in a segment's file name, or 0.
func segmentNumber(name string) int {
	if !strings.HasPrefix(name, spoolPrefix) || !strings.HasSuffix(name, spoolSuffix) {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, spoolPrefix), spoolSuffix))
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// legacyHash is the id hash in an .eml file's name (…-<12 hex>.eml).
func legacyHash(name string) string {
	if !strings.HasSuffix(name, ".eml") || strings.HasPrefix(name, ".") {
		return ""
	}
	base := strings.TrimSuffix(name, ".eml")
	i := strings.LastIndexByte(base, '-')
	if i < 0 || len(base)-i-1 != 12 {
		return ""
	}
	return base[i+1:]
}

// readRecord reads the header and id of the record at off in a file of
// size bytes. buf is scratch space for the header; errTorn means the
// record is not whole (the CRC is not checked here: see verify).
func readRecord(f *os.File, off, size int64, buf []byte) (record, error) {
	if size-off < recordHeaderLen {
		return record{}, errTorn
	}
	n := min(int64(len(buf)), size-off)
	if _, err := f.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
		return record{}, err
	}
	h := buf[:n]
	if [4]byte(h[:4]) != recordMagic {
		return record{}, errTorn
	}
	idLen := int64(binary.BigEndian.Uint16(h[4:]))
	r := record{off: off, rawOff: off + recordHeaderLen + idLen, rawLen: int64(binary.BigEndian.Uint32(h[6:])), crc: binary.BigEndian.Uint32(h[10:])}
	if r.end() > size {
		return record{}, errTorn
	}
	if recordHeaderLen+idLen > n {
		// Longer than buf: read the id on its own.
		h = make([]byte, recordHeaderLen+idLen)
		if _, err := f.ReadAt(h, off); err != nil {
			return record{}, err
		}
	}
	// A copy: buf is reused for the next record.
	r.hdrAndID = slices.Clone(h[:recordHeaderLen+idLen])
	r.id = string(h[recordHeaderLen : recordHeaderLen+idLen])
	return r, nil
}

// verify checks a record's CRC, reading its message.
func verify(f *os.File, r record) error {
	h := crc32.New(castagnoli)
	h.Write(r.hdrAndID[:10])
	h.Write(r.hdrAndID[recordHeaderLen:])
	if _, err := io.Copy(h, io.NewSectionReader(f, r.rawOff, r.rawLen)); err != nil {
		return err
	}
	if h.Sum32() != r.crc {
		return errTorn
	}
	return nil
}

// recordHeader is the header and id of a record for id and a message of
// raw bytes.
func recordHeader(id string, raw []byte) []byte {
	h := make([]byte, recordHeaderLen, recordHeaderLen+len(id))
	copy(h, recordMagic[:])
	binary.BigEndian.PutUint16(h[4:], uint16(len(id)))
	binary.BigEndian.PutUint32(h[6:], uint32(len(raw)))
	h = append(h, id...)
	c := crc32.Update(0, castagnoli, h[:10])
	c = crc32.Update(c, castagnoli, h[recordHeaderLen:])
	c = crc32.Update(c, castagnoli, raw)
	binary.BigEndian.PutUint32(h[10:], c)
	return h
}

// scanRecords calls fn for each whole record of the file from off, in
// order, until a seal (sealed true), the end, or a record that is not
// whole with no whole record after it (torn, end its offset): the last
// record being appended, or cut short by a killed writer. A record that
// is not whole but has whole records after it was damaged where it lies:
// skip is told where it starts and where the next whole record does, and
// the scan goes on there.
//
// With check, a record is whole when its CRC matches. Without, when its
// header fits the file (its CRC is checked when its message is read),
// except a seal, always checked: a damaged id length would otherwise read
// as one and hide the rest of the segment. Unchecked, a damaged length
// puts the next record's start inside other records; so when the spot
// after a record is not whole, that record's CRC is checked, and the
// search for the next whole record starts from it when it fails.
func scanRecords(f *os.File, off, size int64, check bool, fn func(record), skip func(off, next int64)) (end int64, sealed bool, torn bool, err error) {
	buf := make([]byte, recordHeaderLen+128)
	var prev *record // the record before off, passed to fn unchecked
	for off < size {
		r, err := readRecord(f, off, size, buf)
		if err == nil && (check || r.id == "") {
			err = verify(f, r)
		}
		if err != nil && !errors.Is(err, errTorn) {
			return off, false, false, err
		}
		if err != nil {
			from := off
			if prev != nil {
				if err := verify(f, *prev); errors.Is(err, errTorn) {
					from = prev.off
				} else if err != nil {
					return off, false, false, err
				}
			}
			next, err := nextWhole(f, from, size)
			if err != nil {
				return from, false, false, err
			}
			if next < 0 {
				return from, false, true, nil
			}
			if skip != nil {
				skip(from, next)
			}
			off, prev = next, nil
			continue
		}
		if r.id == "" {
			return r.end(), true, false, nil
		}
		fn(r)
		if !check {
			prev = &r
		}
		off = r.end()
	}
	return off, false, false, nil
}

// nextWhole returns the offset of the first record after from whose
// header fits the file and whose CRC matches, or -1 when there is none:
// where the records go on after a damaged one. The CRC makes a match
// inside a message (its bytes happening to read "PFM\x01") all but
// impossible.
func nextWhole(f *os.File, from, size int64) (int64, error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk+len(recordMagic)-1) // a magic across two chunks is found in the second
	hdr := make([]byte, recordHeaderLen+128)
	for pos := from + 1; pos < size; pos += chunk {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-pos)], pos)
		if err != nil && !errors.Is(err, io.EOF) {
			return -1, err
		}
		b := buf[:n]
		for i := 0; ; {
			j := bytes.Index(b[i:], recordMagic[:])
			if j < 0 || i+j >= chunk {
				break
			}
			at := pos + int64(i+j)
			r, err := readRecord(f, at, size, hdr)
			if err == nil {
				err = verify(f, r)
			}
			if err == nil {
				return at, nil
			}
			if !errors.Is(err, errTorn) {
				return -1, err
			}
			i += j + 1
		}
	}
	return -1, nil
}

// logSkipped reports a damaged record that readers skip: the records
// after it are read, and nothing is cut.
func logSkipped(log *slog.Logger, path string, off, next int64) {
	log.Error("outbox: a damaged record in the middle of a segment (its bytes changed after it was written); skipping it, the messages after it are read and kept",
		"segment", path, "offset", off, "bytes_skipped", next-off)
}

// load reads the directory once: every segment's records into the index
// and the names of .eml files. It writes nothing.
func (s *spool) load(log *slog.Logger) error {
	if s.loaded {
		return nil
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("outbox %s: %w", s.dir, err)
	}
	s.index, s.legacy, s.segs = map[uint64]location{}, map[string]bool{}, nil
	for _, e := range entries {
		if n := segmentNumber(e.Name()); n > 0 {
			s.segs = append(s.segs, &segment{num: n, path: filepath.Join(s.dir, e.Name())})
		} else if h := legacyHash(e.Name()); h != "" {
			s.legacy[h] = true
		}
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return a.num - b.num })
	for _, seg := range s.segs {
		if err := s.catchUp(seg, log); err != nil {
			return err
		}
	}
	s.loaded = true
	return nil
}

// catchUp indexes seg's records from where it was last read. A record
// that is not whole at the end ends the reading; it is left to the
// writer. A damaged one with whole records after it is skipped and
// logged.
func (s *spool) catchUp(seg *segment, log *slog.Logger) error {
	if seg.sealed {
		return nil
	}
	f, err := os.Open(seg.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("outbox: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if st.Size() == seg.end {
		return nil
	}
	end, sealed, _, err := scanRecords(f, seg.end, st.Size(), false, func(r record) { s.put(seg, r) },
		func(off, next int64) { logSkipped(log, seg.path, off, next) })
	if err != nil {
		return fmt.Errorf("outbox: read %s: %w", filepath.Base(seg.path), err)
	}
	seg.end, seg.sealed = end, sealed
	return nil
}

// refreshHook, set by a test, runs in refresh between catching up the
// last segment and looking for the next: where another process may
// append to that segment, seal it and start the next.
var refreshHook func()

// refresh picks up what other processes appended since the last look:
// records in the last segment and segments after it.
func (s *spool) refresh(log *slog.Logger) error {
	if !s.loaded {
		return s.load(log)
	}
	for {
		var last *segment
		if len(s.segs) > 0 {
			last = s.segs[len(s.segs)-1]
			if err := s.catchUp(last, log); err != nil {
				return err
			}
		}
		if refreshHook != nil {
			refreshHook()
		}
		next := 1
		if last != nil {
			next = last.num + 1
		}
		p := segmentPath(s.dir, next)
		if _, err := os.Stat(p); err != nil {
			return nil
		}
		if last != nil {
			// The next segment exists, so this one was sealed before it
			// was made, maybe after the catch-up above: read it to its
			// seal, or what was appended in between is never indexed.
			if err := s.catchUp(last, log); err != nil {
				return err
			}
		}
		s.segs = append(s.segs, &segment{num: next, path: p})
	}
}

// put indexes a record of seg. Records start before the segment size (a
// few hundred MiB at most), far below 4 GiB.
func (s *spool) put(seg *segment, r record) {
	if r.off <= math.MaxUint32 {
		s.index[idKey(r.id)] = location{seg: int32(seg.num), off: uint32(r.off)}
	}
}

// segment returns the segment numbered num, if known.
func (s *spool) segment(num int) *segment {
	for _, seg := range s.segs {
		if seg.num == num {
			return seg
		}
	}
	return nil
}

// lookup finds messageID's record; ok is false when the spool does not
// hold it.
func (s *spool) lookup(messageID string) (seg *segment, r record, ok bool, err error) {
	loc, found := s.index[idKey(messageID)]
	if !found {
		return nil, record{}, false, nil
	}
	seg = s.segment(int(loc.seg))
	if seg == nil {
		return nil, record{}, false, nil
	}
	f, err := os.Open(seg.path)
	if err != nil {
		return nil, record{}, false, fmt.Errorf("outbox: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, record{}, false, fmt.Errorf("outbox: %w", err)
	}
	r, err = readRecord(f, int64(loc.off), st.Size(), make([]byte, recordHeaderLen+128))
	if errors.Is(err, errTorn) || err == nil && r.id != messageID {
		return nil, record{}, false, nil
	}
	if err != nil {
		return nil, record{}, false, fmt.Errorf("outbox: %w", err)
	}
	return seg, r, true, nil
}

// holds says whether the outbox has messageID already: in the spool, or
// as an .eml file of the layout before it.
func (s *spool) holds(messageID string) (bool, error) {
	if _, _, ok, err := s.lookup(messageID); ok || err != nil {
		return ok, err
	}
	sum := sha256.Sum256([]byte(messageID))
	if !s.legacy[hex.EncodeToString(sum[:6])] {
		return false, nil
	}
	raw, err := (Outbox{Dir: s.dir}).findFile(messageID)
	if err != nil {
		return false, nil
	}
	return headerMessageID(raw) == messageID, nil
}

// openWriter opens the last segment for appending (a new one when there
// is none or it is sealed), making the directory when it is missing.
func (s *spool) openWriter(log *slog.Logger) error {
	if s.w != nil {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("outbox %s: %w", s.dir, err)
	}
	if len(s.segs) == 0 || s.segs[len(s.segs)-1].sealed {
		next := 1
		if len(s.segs) > 0 {
			next = s.segs[len(s.segs)-1].num + 1
		}
		s.segs = append(s.segs, &segment{num: next, path: segmentPath(s.dir, next)})
	}
	seg := s.segs[len(s.segs)-1]
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	s.w, s.wseg = f, seg
	// The last writer may have been killed mid-append: check the whole
	// segment's CRCs once, not just the lengths the readers check.
	if err := lockFile(f); err != nil {
		return s.dropWriter(fmt.Errorf("outbox: lock %s: %w", seg.path, err))
	}
	seg.end, seg.sealed = 0, false
	err = s.settle(log)
	if s.w != nil {
		// settle may have moved on to a later segment.
		unlockFile(s.w)
	}
	return err
}

func (s *spool) dropWriter(err error) error {
	if s.w != nil {
		s.w.Close()
	}
	s.w, s.wseg = nil, nil
	return err
}

// settle brings the writer's segment up to date under its lock: records
// other processes appended are indexed, a torn record at the end (no
// whole record after it) is truncated (no writer is inside it: they all
// hold the lock while appending), a damaged record with whole records
// after it is skipped and kept, and a sealed segment hands over to the
// next.
func (s *spool) settle(log *slog.Logger) error {
	for {
		f, seg := s.w, s.wseg
		st, err := f.Stat()
		if err != nil {
			return s.dropWriter(fmt.Errorf("outbox: %w", err))
		}
		if st.Size() != seg.end {
			end, sealed, torn, err := scanRecords(f, seg.end, st.Size(), true, func(r record) { s.put(seg, r) },
				func(off, next int64) { logSkipped(log, seg.path, off, next) })
			if err != nil {
				return s.dropWriter(fmt.Errorf("outbox: read %s: %w", seg.path, err))
			}
			seg.end, seg.sealed = end, sealed
			if torn {
				log.Warn("outbox: a message was cut short (the host stopped while writing it); dropping it, the messages before it are whole",
					"segment", seg.path, "offset", end, "bytes_dropped", st.Size()-end)
				if err := f.Truncate(end); err != nil {
					return s.dropWriter(fmt.Errorf("outbox: truncate the cut-short message in %s: %w", seg.path, err))
				}
				s.forgetFrom(seg.num, end)
			}
		}
		if !seg.sealed {
			return nil
		}
		if err := s.next(); err != nil {
			return err
		}
	}
}

// forgetFrom drops index entries at or after off in segment num (records
// a truncation removed).
func (s *spool) forgetFrom(num int, off int64) {
	for k, loc := range s.index {
		if int(loc.seg) == num && int64(loc.off) >= off {
			delete(s.index, k)
		}
	}
}

// next moves the writer, locked on a sealed segment, to the following
// one and locks that.
func (s *spool) next() error {
	cur := s.wseg
	num := cur.num + 1
	seg := s.segment(num)
	if seg == nil {
		seg = &segment{num: num, path: segmentPath(s.dir, num)}
		s.segs = append(s.segs, seg)
	}
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return s.dropWriter(fmt.Errorf("outbox: %w", err))
	}
	unlockFile(s.w)
	s.w.Close()
	s.w, s.wseg = f, seg
	if err := lockFile(f); err != nil {
		return s.dropWriter(fmt.Errorf("outbox: lock %s: %w", seg.path, err))
	}
	return nil
}

// append writes b as a record unless the outbox holds its Message-ID
// already.
func (s *spool) append(b *Built, log *slog.Logger, segmentBytes int64) error {
	if b.MessageID == "" || len(b.MessageID) > math.MaxUint16 {
		return fmt.Errorf("outbox: message has no usable Message-ID (%d bytes)", len(b.MessageID))
	}
	if int64(len(b.Raw)) > math.MaxUint32 {
		return fmt.Errorf("outbox: message %s is %s, over the spool's 4 GiB per message", b.MessageID, byteSize(int64(len(b.Raw))))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(log); err != nil {
		return err
	}
	if err := s.openWriter(log); err != nil {
		return err
	}
	if err := s.reopenIfRemoved(log); err != nil {
		return err
	}
	if err := lockFile(s.w); err != nil {
		return s.dropWriter(fmt.Errorf("outbox: lock %s: %w", s.wseg.path, err))
	}
	err := s.appendLocked(b, log, segmentBytes)
	if s.w != nil {
		unlockFile(s.w)
	}
	return err
}

// reopenIfRemoved starts over when the segment being appended to was
// deleted (the outbox directory removed while the host runs): appending
// to an unlinked file would lose every message after.
func (s *spool) reopenIfRemoved(log *slog.Logger) error {
	if _, err := os.Stat(s.wseg.path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("outbox: %w", err)
	}
	log.Warn("outbox: its files were removed while in use; starting a new spool", "dir", s.dir)
	s.dropWriter(nil)
	s.loaded = false
	if err := s.load(log); err != nil {
		return err
	}
	return s.openWriter(log)
}

func (s *spool) appendLocked(b *Built, log *slog.Logger, segmentBytes int64) error {
	if err := s.settle(log); err != nil {
		return err
	}
	if held, err := s.holds(b.MessageID); err != nil || held {
		return err
	}
	if s.wseg.end >= segmentBytes {
		if err := s.write(recordHeader("", nil), nil); err != nil {
			return err
		}
		s.wseg.sealed = true
		if err := s.next(); err != nil {
			return err
		}
		if err := s.settle(log); err != nil {
			return err
		}
	}
	r := record{id: b.MessageID, off: s.wseg.end}
	if err := s.write(recordHeader(b.MessageID, b.Raw), b.Raw); err != nil {
		return err
	}
	s.put(s.wseg, r)
	return nil
}

// write appends one record; on a failure it cuts the file back so no
// partial record stays.
func (s *spool) write(header, raw []byte) error {
	seg := s.wseg
	_, err := s.w.Write(header)
	if err == nil && len(raw) > 0 {
		_, err = s.w.Write(raw)
	}
	if err != nil {
		if terr := s.w.Truncate(seg.end); terr != nil {
			err = errors.Join(err, terr)
		}
		return fmt.Errorf("outbox write %s: %w", seg.path, err)
	}
	seg.end += int64(len(header) + len(raw))
	return nil
}

// find returns the message for messageID from the spool; ok is false
// when the spool does not hold it.
func (s *spool) find(messageID string, log *slog.Logger) (raw []byte, ok bool, err error) {
	s.mu.Lock()
	seg, r, ok, err := s.lookup(messageID)
	if !ok && err == nil {
		if err = s.refresh(log); err == nil {
			seg, r, ok, err = s.lookup(messageID)
		}
	}
	s.mu.Unlock()
	if !ok || err != nil {
		return nil, false, err
	}
	raw, err = readMessage(seg.path, r)
	return raw, err == nil, err
}

// readMessage reads a record's message and checks its CRC.
func readMessage(path string, r record) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	defer f.Close()
	raw := make([]byte, r.rawLen)
	if _, err := f.ReadAt(raw, r.rawOff); err != nil {
		return nil, fmt.Errorf("outbox: read %s: %w", filepath.Base(path), err)
	}
	c := crc32.Update(0, castagnoli, r.hdrAndID[:10])
	c = crc32.Update(c, castagnoli, r.hdrAndID[recordHeaderLen:])
	if crc32.Update(c, castagnoli, raw) != r.crc {
		return nil, fmt.Errorf("outbox: message %s in %s at %d is damaged (its checksum does not match)", r.id, filepath.Base(path), r.off)
	}
	return raw, nil
}

// close releases the segment held open for appending.
func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.w != nil {
		err = s.w.Close()
	}
	s.w, s.wseg, s.loaded = nil, nil, false
	return err
}
