package origin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/documents/origin"
	"github.com/paperflow/paperflow/host/hosttest"
)

// TestIDsShareAPrefixInGroups: ids made one after another share their
// first GroupPrefix hex digits 32 at a time, and are otherwise different.
func TestIDsShareAPrefixInGroups(t *testing.T) {
	var ids origin.IDs
	seen := map[string]bool{}
	prefixes := map[string]int{}
	for range 96 {
		id, err := ids.Next()
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 32 || seen[id] {
			t.Fatalf("id %q: not 32 hex digits, or seen before", id)
		}
		seen[id] = true
		prefixes[id[:origin.GroupPrefix]]++
	}
	if len(prefixes) != 3 {
		t.Errorf("96 ids in %d groups, want 3: %v", len(prefixes), prefixes)
	}
}

// openBucket starts an embedded NATS with the host's store, origins
// bucket included.
func openBucket(t *testing.T) *bus.Bus {
	t.Helper()
	b := hosttest.StartBus(t, t.TempDir())
	if _, err := b.EnsureStore(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRecordAllShareEntries: the origins of many documents, recorded by
// concurrent batches (as a run's workers publish their events) and by a
// second host, are each found again, in one entry per group of ids.
func TestRecordAllShareEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := openBucket(t)
	hosts := []*origin.Store{origin.NewStore(b.JS), origin.NewStore(b.JS)}
	var ids origin.IDs
	const docs, batch = 200, 10
	entries := make([]origin.Entry, docs)
	for i := range entries {
		id, err := ids.Next()
		if err != nil {
			t.Fatal(err)
		}
		entries[i] = origin.Entry{ID: id, Origin: origin.Origin{Workflow: "w", RunID: "run-1", ItemID: fmt.Sprint(i + 1), BlockID: "pdf"}}
	}
	var wg sync.WaitGroup
	for i := 0; i < docs; i += batch {
		wg.Go(func() {
			err := hosts[i/batch%2].RecordAll(ctx, entries[i:i+batch], func(e origin.Entry, err error) { t.Errorf("%s: %v", e.ID, err) })
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, e := range entries {
		if o, ok, err := hosts[1].Lookup(ctx, e.ID); err != nil || !ok || o != e.Origin {
			t.Errorf("%s: Lookup = %+v, %v, %v; want %+v", e.ID, o, ok, err, e.Origin)
		}
	}
	kv, err := b.JS.KeyValue(ctx, bus.DocumentOriginsBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range keys.Keys() {
		n++
	}
	if want := (docs + 31) / 32; n != want {
		t.Errorf("%d entries for %d documents, want %d", n, docs, want)
	}
}

// TestLookupReadsEntriesOfOneDocument: origins recorded one entry per
// document (by earlier versions, or for an id of another form) are found.
func TestLookupReadsEntriesOfOneDocument(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := openBucket(t)
	kv, err := b.JS.KeyValue(ctx, bus.DocumentOriginsBucket)
	if err != nil {
		t.Fatal(err)
	}
	s := origin.NewStore(b.JS)
	o := origin.Origin{Workflow: "w", RunID: "run-1", ItemID: "7", BlockID: "pdf"}
	raw, _ := json.Marshal(o)
	const old = "00112233445566778899aabbccddeeff"
	if _, err := kv.Put(ctx, old, raw); err != nil {
		t.Fatal(err)
	}
	// Another document of the same group, recorded by this version.
	if err := s.Record(ctx, "00112233ffffffffffffffffffffffff", origin.Origin{Workflow: "w", RunID: "run-2", ItemID: "1", BlockID: "pdf"}); err != nil {
		t.Fatal(err)
	}
	const other = "upload-1"
	if err := s.Record(ctx, other, o); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{old, other} {
		if got, ok, err := s.Lookup(ctx, id); err != nil || !ok || got != o {
			t.Errorf("%s: Lookup = %+v, %v, %v; want %+v", id, got, ok, err, o)
		}
	}
	if _, err := kv.Get(ctx, other); err != nil {
		t.Errorf("an id of another form has no entry of its own: %v", err)
	}
}
