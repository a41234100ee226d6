package bus_test

import (
	"context"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/bus"
)

// TestRestoreBringsEveryEventBack is the operator's story: a backup, a
// damaged block file of the events stream, the loss reported at the next
// start, and a restore of the backup that brings every event back.
func TestRestoreBringsEveryEventBack(t *testing.T) {
	t.Parallel()
	const events = 6000
	ctx := context.Background()
	data, backup := t.TempDir(), t.TempDir()

	b, _ := openEmbedded(t, data)
	if _, err := b.EnsureStore(ctx); err != nil {
		t.Fatal(err)
	}
	publishEvents(t, b, events)
	m, err := b.Backup(ctx, backup, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	want := streamNames(t, b)
	if len(m.Streams) != len(want) {
		t.Errorf("backup has %d streams, want every one of %v: %+v", len(m.Streams), want, m.Streams)
	}
	b.Close()

	corruptBlock(t, data, eventsStream)
	b, logs := openEmbedded(t, data)
	assertLossReported(t, b, logs, events)

	if _, err := b.Restore(ctx, backup, false, nil); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore over a stream holding data without --force: %v, want a refusal naming --force", err)
	}
	restored, err := b.Restore(ctx, backup, true, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(restored) != len(m.Streams) {
		t.Errorf("restored %d streams of %d", len(restored), len(m.Streams))
	}
	if n := distinctEvents(t, b); n != events {
		t.Errorf("%d distinct events after the restore, want %d", n, events)
	}
	b.Close()

	// The restored store is whole: the next start reports nothing.
	b, logs = openEmbedded(t, data)
	defer b.Close()
	if len(b.Damage()) > 0 || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("damage reported after the restore: %+v\n%s", b.Damage(), logs)
	}
	if n := distinctEvents(t, b); n != events {
		t.Errorf("%d distinct events after a restart, want %d", n, events)
	}
}

// TestRestoreOntoAnEmptyStore: a backup restores into a fresh data
// directory, where serve has already made its empty streams.
func TestRestoreOntoAnEmptyStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, _ := openEmbedded(t, t.TempDir())
	publishEvents(t, b, 50)
	backup := t.TempDir()
	if _, err := b.Backup(ctx, backup, nil); err != nil {
		t.Fatal(err)
	}
	b.Close()

	b, _ = openEmbedded(t, t.TempDir())
	defer b.Close()
	if _, err := b.EnsureStore(ctx); err != nil {
		t.Fatal(err)
	}
	publishEvents(t, b, 0)
	if _, err := b.Restore(ctx, backup, false, nil); err != nil {
		t.Fatal(err)
	}
	if n := distinctEvents(t, b); n != 50 {
		t.Errorf("%d events after the restore, want 50", n)
	}
}

// streamNames lists every stream on b's server, so the check above follows
// the layout as buckets and streams are added.
func streamNames(t *testing.T, b *bus.Bus) []string {
	t.Helper()
	var names []string
	l := b.JS.StreamNames(context.Background())
	for n := range l.Name() {
		names = append(names, n)
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}
