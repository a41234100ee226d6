package mail_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/mail"
)

// helperEnv makes the test binary a process appending to an outbox:
// "<dir> <prefix> <count>" (count 0: until killed). It prints the
// Message-ID of each message once Send has returned.
const helperEnv = "PAPERFLOW_OUTBOX_TEST_WRITER"

func TestMain(m *testing.M) {
	if v := os.Getenv(helperEnv); v != "" {
		os.Exit(appendAsProcess(v))
	}
	os.Exit(m.Run())
}

// appendAsProcess is the body of a writer process (see helperEnv).
func appendAsProcess(arg string) int {
	f := strings.Fields(arg)
	dir, prefix := f[0], f[1]
	count, _ := strconv.Atoi(f[2])
	o := mail.Outbox{Dir: dir, Spool: true, SegmentBytes: 256 << 10}
	pdf := bytes.Repeat([]byte("%PDF-1.7 letter "), 2000)
	for i := 0; count == 0 || i < count; i++ {
		m := sampleMessage(pdf)
		m.IDSeed = fmt.Sprintf("%s/%d", prefix, i)
		b, err := mail.Build(m, "test.localhost", time.Now())
		if err == nil {
			err = o.Send(context.Background(), b)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// Send has returned: the host would now record the mail as sent.
		fmt.Println(b.MessageID)
	}
	return 0
}

// spoolOutbox is a spooled outbox in a fresh directory, with small
// segments so a few messages rotate, logging to the returned buffer.
func spoolOutbox(t *testing.T) (mail.Outbox, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	o := mail.Outbox{Dir: filepath.Join(t.TempDir(), "outbox"), Spool: true, SegmentBytes: 100 << 10,
		Log: slog.New(slog.NewTextHandler(logs, nil))}
	t.Cleanup(func() { o.Close() })
	return o, logs
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sendN sends n messages seeded seed/0 … seed/n-1 and returns them.
func sendN(t *testing.T, o mail.Outbox, seed string, n int) []*mail.Built {
	t.Helper()
	var out []*mail.Built
	for i := range n {
		m := sampleMessage(randomBytes(t, 30_000))
		m.IDSeed = fmt.Sprintf("%s/%d", seed, i)
		b := build(t, m)
		if err := o.Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// checkHolds fails unless the outbox lists exactly want, in order, and
// Read and Find return each message's bytes.
func checkHolds(t *testing.T, o mail.Outbox, want []*mail.Built) {
	t.Helper()
	got, err := o.Messages()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("outbox lists %d messages, want %d", len(got), len(want))
	}
	for i, e := range got {
		if e.MessageID != want[i].MessageID {
			t.Errorf("message %d: %s, want %s", i, e.MessageID, want[i].MessageID)
		}
		raw, err := o.Read(e)
		if err != nil || !bytes.Equal(raw, want[i].Raw) {
			t.Errorf("Read %s: %d bytes (%v), want the %d sent", e.Location(), len(raw), err, len(want[i].Raw))
		}
		raw, err = o.Find(want[i].MessageID)
		if err != nil || !bytes.Equal(raw, want[i].Raw) {
			t.Errorf("Find %s: %d bytes (%v), want the %d sent", want[i].MessageID, len(raw), err, len(want[i].Raw))
		}
	}
}

// TestSpoolKeepsMessagesInOrder: messages come back as sent, across
// segments, from this process and from a fresh look at the directory.
func TestSpoolKeepsMessagesInOrder(t *testing.T) {
	o, _ := spoolOutbox(t)
	sent := sendN(t, o, "order", 12)
	checkHolds(t, o, sent)
	segs, _ := filepath.Glob(filepath.Join(o.Dir, "mail-*.spool"))
	if len(segs) < 3 {
		t.Errorf("%d segments for 12 messages of ~40 KB in segments of 100 KB, want at least 3", len(segs))
	}
	if emls, _ := filepath.Glob(filepath.Join(o.Dir, "*.eml")); len(emls) != 0 {
		t.Errorf("a spooled outbox wrote .eml files: %v", emls)
	}
	// As a restarted host sees it.
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	checkHolds(t, o, sent)
	sent = append(sent, sendN(t, o, "after-restart", 2)...)
	checkHolds(t, o, sent)
}

// TestSpoolWritesAMessageIDOnce: a message sent again (the host stopped
// between writing it and recording it sent) is not written twice, also
// after a restart, and also when it was written as an .eml file before
// the outbox spooled.
func TestSpoolWritesAMessageIDOnce(t *testing.T) {
	cases := []struct {
		name   string
		first  mail.Outbox
		second func(mail.Outbox) mail.Outbox
	}{
		{"same process", mail.Outbox{Spool: true}, func(o mail.Outbox) mail.Outbox { return o }},
		{"after a restart", mail.Outbox{Spool: true}, func(o mail.Outbox) mail.Outbox { o.Close(); return o }},
		{"written as .eml before", mail.Outbox{}, func(o mail.Outbox) mail.Outbox { o.Spool = true; return o }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.first
			o.Dir = filepath.Join(t.TempDir(), "outbox")
			t.Cleanup(func() { o.Close() })
			m := sampleMessage(randomBytes(t, 1000))
			m.IDSeed = "run/7/mail"
			first := build(t, m)
			if err := o.Send(context.Background(), first); err != nil {
				t.Fatal(err)
			}
			again := c.second(o)
			if err := again.Send(context.Background(), build(t, m)); err != nil {
				t.Fatal(err)
			}
			checkHolds(t, again, []*mail.Built{first})
		})
	}
}

// TestSpoolReadsOldOutbox: .eml files written before the outbox spooled
// are listed first, beside the spooled messages, and found by id.
func TestSpoolReadsOldOutbox(t *testing.T) {
	o, _ := spoolOutbox(t)
	files := o
	files.Spool = false
	old := sendN(t, files, "old", 2)
	sent := sendN(t, o, "new", 3)
	checkHolds(t, o, append(old, sent...))
	if list, _ := o.List(); len(list) != 2 {
		t.Errorf("List: %d .eml files, want the 2 old ones", len(list))
	}
}

// TestSpoolDropsACutShortMessage: a segment cut anywhere in its last
// record (the host killed mid-append) keeps every message before it;
// readers skip the cut record and the next writer truncates it, with a
// log line, and appends after the last whole message.
func TestSpoolDropsACutShortMessage(t *testing.T) {
	cases := []struct {
		name string
		cut  func(size, lastStart int64) int64 // the new size
	}{
		{"in the header", func(_, last int64) int64 { return last + 5 }},
		{"in the Message-ID", func(_, last int64) int64 { return last + 20 }},
		{"in the message", func(size, last int64) int64 { return last + (size-last)/2 }},
		{"one byte short", func(size, _ int64) int64 { return size - 1 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, logs := spoolOutbox(t)
			o.SegmentBytes = 1 << 20
			sent := sendN(t, o, "cut", 3)
			entries, err := o.Messages()
			if err != nil || len(entries) != 3 {
				t.Fatalf("%d entries, %v", len(entries), err)
			}
			seg := entries[2].File
			st, err := os.Stat(seg)
			if err != nil {
				t.Fatal(err)
			}
			lastStart := entries[1].Offset + entries[1].Size
			o.Close() // the host is gone
			if err := os.Truncate(seg, c.cut(st.Size(), lastStart)); err != nil {
				t.Fatal(err)
			}
			checkHolds(t, o, sent[:2])
			more := sendN(t, o, "after", 1)
			if !strings.Contains(logs.String(), "dropping it") {
				t.Errorf("the writer logged nothing about truncating: %q", logs)
			}
			checkHolds(t, o, append(sent[:2], more...))
		})
	}
}

// TestSpoolDropsADamagedMessage: a last record whose bytes were not all
// written (a power cut can leave zeros) fails its checksum and is
// dropped the same way.
func TestSpoolDropsADamagedMessage(t *testing.T) {
	o, logs := spoolOutbox(t)
	o.SegmentBytes = 1 << 20
	sent := sendN(t, o, "damaged", 2)
	entries, _ := o.Messages()
	o.Close()
	f, err := os.OpenFile(entries[1].File, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 512), entries[1].Offset+entries[1].Size-512); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := o.Read(entries[1]); err == nil {
		t.Error("Read returned a damaged message without an error")
	}
	more := sendN(t, o, "after", 1)
	if !strings.Contains(logs.String(), "dropping it") {
		t.Errorf("the writer logged nothing about the damaged record: %q", logs)
	}
	checkHolds(t, o, append(sent[:1], more...))
}

// TestSpoolKeepsMessagesAfterADamagedOne: a record damaged where it lies
// (bytes changed in the middle of a segment, not a cut-short end) costs
// that message only. Readers skip it and find the messages after it, the
// next writer logs it as an error naming the segment and offset and cuts
// nothing, and every other message stays readable, also after a restart.
// Damage to the header (the length fields garbage) included: the records
// after it are found by their magic and CRC.
func TestSpoolKeepsMessagesAfterADamagedOne(t *testing.T) {
	put := func(at int64, b ...byte) func(rec int64, idLen, rawLen int) (int64, []byte) {
		return func(rec int64, _, _ int) (int64, []byte) { return rec + at, b }
	}
	u32 := func(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
	cases := []struct {
		name   string
		damage func(rec int64, idLen, rawLen int) (int64, []byte) // where, and the bytes written there
	}{
		{"in the message", func(rec int64, idLen, rawLen int) (int64, []byte) {
			return rec + 14 + int64(idLen) + int64(rawLen)/2, []byte{0xde, 0xad, 0xbe, 0xef}
		}},
		{"in the Message-ID", put(20, 'X', 'X', 'X', 'X')},
		{"in the magic", put(0, 0, 0, 0, 0)},
		{"in the CRC", put(10, 0, 0, 0, 0)},
		{"id length zero (reads as a seal)", put(4, 0, 0)},
		{"id length garbage", put(4, 0xff, 0xfe)},
		{"length past the end of the file", put(6, 0xff, 0xff, 0xff, 0xff)},
		{"length ending inside the next record", func(rec int64, _, rawLen int) (int64, []byte) {
			return rec + 6, u32(uint32(rawLen + 300))
		}},
		{"length ending before the message does", func(rec int64, _, rawLen int) (int64, []byte) {
			return rec + 6, u32(uint32(rawLen - 300))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, logs := spoolOutbox(t)
			o.SegmentBytes = 1 << 20
			sent := sendN(t, o, "middle", 3)
			entries, err := o.Messages()
			if err != nil || len(entries) != 3 {
				t.Fatalf("%d entries, %v", len(entries), err)
			}
			seg := entries[1].File
			rec := entries[0].Offset + entries[0].Size // where the 2nd record starts
			o.Close()
			at, b := c.damage(rec, len(sent[1].MessageID), len(sent[1].Raw))
			f, err := os.OpenFile(seg, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(b, at); err != nil {
				t.Fatal(err)
			}
			f.Close()
			st, err := os.Stat(seg)
			if err != nil {
				t.Fatal(err)
			}

			damaged := sent[1]
			checkSkips(t, o, []*mail.Built{sent[0], sent[2]}, damaged) // a reader, before any writer
			more := sendN(t, o, "after", 1)
			after, err := os.Stat(seg)
			if err != nil {
				t.Fatal(err)
			}
			if after.Size() <= st.Size() {
				t.Errorf("the segment went from %d to %d bytes: the writer cut it", st.Size(), after.Size())
			}
			if strings.Contains(logs.String(), "cut short") {
				t.Errorf("the writer called a damaged record in the middle a message cut short: %q", logs)
			}
			want := `level=ERROR msg="outbox: a damaged record in the middle of a segment`
			where := fmt.Sprintf("segment=%s offset=%d ", seg, rec)
			if !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), where) {
				t.Errorf("no error naming the damaged record (%s): %q", where, logs)
			}
			kept := []*mail.Built{sent[0], sent[2], more[0]}
			checkSkips(t, o, kept, damaged)
			o.Close() // as a restarted host sees it
			checkSkips(t, o, kept, damaged)
		})
	}
}

// checkSkips fails unless the outbox lists want, in order, each read
// back whole by Read and Find, and nothing else but the damaged message,
// which Read and Find refuse. A damaged record whose header still reads
// is listed (its checksum is checked when it is read); one whose header
// does not is not.
func checkSkips(t *testing.T, o mail.Outbox, want []*mail.Built, damaged *mail.Built) {
	t.Helper()
	got, err := o.Messages()
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for _, e := range got {
		raw, err := o.Read(e)
		if i < len(want) && e.MessageID == want[i].MessageID {
			if err != nil || !bytes.Equal(raw, want[i].Raw) {
				t.Errorf("Read %s: %d bytes (%v), want the %d sent", e.Location(), len(raw), err, len(want[i].Raw))
			}
			i++
			continue
		}
		if err == nil {
			t.Errorf("listed %q at %s, read without an error; want only the damaged message besides those sent", e.MessageID, e.Location())
		}
	}
	if i != len(want) {
		t.Errorf("the outbox lists %d of the %d messages kept (%d listed in all)", i, len(want), len(got))
	}
	for _, b := range want {
		if raw, err := o.Find(b.MessageID); err != nil || !bytes.Equal(raw, b.Raw) {
			t.Errorf("Find %s: %d bytes (%v), want the %d sent", b.MessageID, len(raw), err, len(b.Raw))
		}
	}
	if raw, err := o.Find(damaged.MessageID); err == nil {
		t.Errorf("Find of the damaged message returned %d bytes without an error", len(raw))
	}
}

// TestSpoolSurvivesAKilledWriter: a process appending as fast as it can
// is killed with SIGKILL; every message whose Send had returned is in the
// outbox, whole, and the next writer carries on after them.
func TestSpoolSurvivesAKilledWriter(t *testing.T) {
	o, _ := spoolOutbox(t)
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+o.Dir+" killed 0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	var sent []string
	for len(sent) < 30 && lines.Scan() { // a few segments full
		sent = append(sent, lines.Text())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() { // what it printed before the kill landed
		sent = append(sent, lines.Text())
	}
	_ = cmd.Wait()
	if len(sent) < 30 {
		t.Fatalf("the writer sent %d messages before it was killed, want at least 30", len(sent))
	}
	for _, id := range sent {
		if _, err := o.Find(id); err != nil {
			t.Errorf("sent before the kill, lost: %v", err)
		}
	}
	before, err := o.Messages()
	if err != nil || len(before) < len(sent) {
		t.Fatalf("%d messages (%v), want at least the %d sent", len(before), err, len(sent))
	}
	for _, e := range before {
		if _, err := o.Read(e); err != nil {
			t.Fatalf("%s: %v", e.Location(), err)
		}
	}
	more := sendN(t, o, "after-kill", 1)
	after, err := o.Messages()
	if err != nil || len(after) != len(before)+1 || after[len(after)-1].MessageID != more[0].MessageID {
		t.Fatalf("after the kill: %d messages (%v), want the %d listed before and 1 more", len(after), err, len(before))
	}
}

// TestSpoolTwoProcesses: two processes appending to one outbox at once
// (two hosts on one data directory) write whole records, none lost.
func TestSpoolTwoProcesses(t *testing.T) {
	o, _ := spoolOutbox(t)
	const each = 40
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run", "^$")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s p%d %d", helperEnv, o.Dir, i, each))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("writer %d: %v: %s", i, err, out)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got, err := o.Messages()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range got {
		if _, err := o.Read(e); err != nil {
			t.Errorf("%s: %v", e.Location(), err)
		}
		seen[e.MessageID] = true
	}
	if len(got) != 2*each || len(seen) != 2*each {
		t.Errorf("%d messages, %d distinct, want %d", len(got), len(seen), 2*each)
	}
}

// TestSpoolRemovedWhileInUse: when the outbox directory is removed under
// a running host, the next message starts a new spool instead of going
// to the removed file.
func TestSpoolRemovedWhileInUse(t *testing.T) {
	o, _ := spoolOutbox(t)
	sendN(t, o, "gone", 1)
	if err := os.RemoveAll(o.Dir); err != nil {
		t.Fatal(err)
	}
	sent := sendN(t, o, "kept", 1)
	checkHolds(t, o, sent)
}

// TestSpoolConcurrentSenders: the engine's workers send at once, through
// copies of the same Outbox value, while the console looks messages up.
func TestSpoolConcurrentSenders(t *testing.T) {
	o, _ := spoolOutbox(t)
	const workers, each = 4, 10
	pdf := randomBytes(t, 20_000)
	built := make([][]*mail.Built, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			copyOf := o
			for i := range each {
				m := sampleMessage(pdf)
				m.IDSeed = fmt.Sprintf("w%d/%d", w, i)
				b, err := mail.Build(m, "test.localhost", time.Now())
				if err == nil {
					err = copyOf.Send(context.Background(), b)
				}
				if err != nil {
					t.Error(err)
					return
				}
				built[w] = append(built[w], b)
				if raw, err := (mail.Outbox{Dir: o.Dir}).Find(b.MessageID); err != nil || !bytes.Equal(raw, b.Raw) {
					t.Errorf("Find right after Send: %d bytes, %v", len(raw), err)
				}
			}
		})
	}
	wg.Wait()
	got, err := o.Messages()
	if err != nil || len(got) != workers*each {
		t.Fatalf("%d messages (%v), want %d", len(got), err, workers*each)
	}
	for _, bs := range built {
		for _, b := range bs {
			if raw, err := o.Find(b.MessageID); err != nil || !bytes.Equal(raw, b.Raw) {
				t.Errorf("Find %s: %d bytes, %v", b.MessageID, len(raw), err)
			}
		}
	}
}
