package origin_test

import (
	"context"
	"errors"
	"testing"

	"github.com/paperflow/paperflow/host/documents/origin"
	"github.com/paperflow/paperflow/host/hosttest"
)

// TestRecordKeepsTheFirstOrigin: a recorded origin is read back with its
// block id cut to the block; a document announced again keeps the origin
// it was made with; a document never announced has none.
func TestRecordKeepsTheFirstOrigin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := openBucket(t)
	s := origin.NewStore(b.JS)
	const id = "0123456789abcdef0123456789abcdef"
	first := origin.Origin{Workflow: "hiring", RunID: "run-1", ItemID: "row-2", BlockID: "contract#2"}
	if err := s.Record(ctx, id, first); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, id, origin.Origin{Workflow: "hiring", RunID: "run-9", ItemID: "row-9", BlockID: "other"}); err != nil {
		t.Fatalf("recording a second origin: %v", err)
	}
	want := first
	want.BlockID = "contract"
	if o, ok, err := s.Lookup(ctx, id); err != nil || !ok || o != want {
		t.Errorf("Lookup = %+v, %v, %v; want %+v", o, ok, err, want)
	}
	if o, ok, err := s.Lookup(ctx, "fedcba9876543210fedcba9876543210"); err != nil || ok {
		t.Errorf("Lookup of a document without origin = %+v, %v, %v", o, ok, err)
	}
}

// TestNoBucket: on a bus without the origins bucket nothing is recorded
// (ErrNoBucket) and nothing is found, without an error.
func TestNoBucket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := hosttest.StartBus(t, t.TempDir()) // no store: no origins bucket
	s := origin.NewStore(b.JS)
	const id = "0123456789abcdef0123456789abcdef"
	if err := s.Record(ctx, id, origin.Origin{Workflow: "w", RunID: "r", ItemID: "i", BlockID: "b"}); !errors.Is(err, origin.ErrNoBucket) {
		t.Errorf("Record without a bucket: %v, want ErrNoBucket", err)
	}
	if o, ok, err := s.Lookup(ctx, id); err != nil || ok {
		t.Errorf("Lookup without a bucket = %+v, %v, %v", o, ok, err)
	}
}
