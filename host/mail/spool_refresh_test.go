package mail

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
)

// TestSpoolRefreshReadsASegmentSealedMeanwhile: another process appends
// to the last segment this one has caught up, seals it and starts the
// next, all between the catch-up and the look for the next segment.
// What it appended is still indexed: found, and not spooled again when
// the same Message-ID is sent.
func TestSpoolRefreshReadsASegmentSealedMeanwhile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	log := slog.New(slog.DiscardHandler)
	other, this := &spool{dir: dir}, &spool{dir: dir} // two processes
	t.Cleanup(func() {
		refreshHook = nil
		other.close()
		this.close()
	})
	msg := func(n int) *Built {
		return &Built{MessageID: fmt.Sprintf("<%d@test.localhost>", n), Raw: bytes.Repeat([]byte{'a' + byte(n)}, 1000)}
	}
	if err := other.append(msg(1), log, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := this.refresh(log); err != nil {
		t.Fatal(err)
	}
	refreshHook = func() {
		refreshHook = nil
		// Into segment 1, then (a segment of 1 byte is full) a seal and
		// segment 2.
		if err := other.append(msg(2), log, 1<<20); err != nil {
			t.Error(err)
		}
		if err := other.append(msg(3), log, 1); err != nil {
			t.Error(err)
		}
	}
	if _, ok, err := this.find(msg(3).MessageID, log); !ok || err != nil {
		t.Fatalf("the message in segment 2 not found (%v)", err)
	}
	if refreshHook != nil {
		t.Fatal("refresh did not run between the catch-up and the look for the next segment")
	}
	if held, err := this.holds(msg(2).MessageID); !held || err != nil {
		t.Errorf("appended to segment 1 before it was sealed, not indexed: holds = %v (%v)", held, err)
	}
	if raw, ok, err := this.find(msg(2).MessageID, log); !ok || err != nil || !bytes.Equal(raw, msg(2).Raw) {
		t.Errorf("find: %d bytes, %v, %v", len(raw), ok, err)
	}
	if err := this.append(msg(2), log, 1<<20); err != nil {
		t.Fatal(err)
	}
	entries, err := (Outbox{Dir: dir, Log: log}).Messages()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.MessageID)
	}
	if want := fmt.Sprint([]string{msg(1).MessageID, msg(2).MessageID, msg(3).MessageID}); fmt.Sprint(ids) != want {
		t.Errorf("the outbox holds %v, want %v (each once)", ids, want)
	}
}
