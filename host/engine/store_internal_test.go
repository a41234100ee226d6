package engine

import (
	"context"
	"testing"

	"github.com/paperflow/paperflow/host/bus"
)

// testBus opens an embedded NATS in a temporary directory for the
// package's internal tests (hosttest imports the engine, so they cannot
// use it), closed when the test ends.
func testBus(t testing.TB) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// testStore is testBus with paperflow's streams and buckets made.
func testStore(t testing.TB) (*bus.Bus, *bus.Store) {
	t.Helper()
	b := testBus(t)
	st, err := b.EnsureStore(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b, st
}
