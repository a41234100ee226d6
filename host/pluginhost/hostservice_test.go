package pluginhost

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
)

// stateOnly is the part of Services the KV calls use.
type stateOnly struct {
	Services
	store *bus.Store
}

func (s stateOnly) State() jetstream.KeyValue { return s.store.State }

// TestKVKeysListsOnlyTheBlocksOwnKeys: a block lists its keys without the
// workflow and block prefix, never another block's, in pages.
func TestKVKeysListsOnlyTheBlocksOwnKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS")
	}
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	store, err := b.EnsureStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svc := stateOnly{store: store}
	mine := &hostServer{in: Instance{Workflow: "wf", BlockID: "sign"}, svc: svc}
	other := &hostServer{in: Instance{Workflow: "wf", BlockID: "signx"}, svc: svc}
	for _, k := range []string{"req.a", "req.b", "req.c", "tok.x"} {
		if _, err := mine.KVPut(ctx, &blockv1.KVPutRequest{Key: k, Value: []byte("{}"), Unconditional: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := other.KVPut(ctx, &blockv1.KVPutRequest{Key: "req.z", Value: []byte("{}"), Unconditional: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		prefix, after string
		limit         int32
		want          string
		more          bool
	}{
		{"req.", "", 0, "req.a req.b req.c", false},
		{"req.", "", 2, "req.a req.b", true},
		{"req.", "req.b", 2, "req.c", false},
		{"re", "", 0, "req.a req.b req.c", false},
		{"", "", 0, "req.a req.b req.c tok.x", false},
		{"img.", "", 0, "", false},
	} {
		r, err := mine.KVKeys(ctx, &blockv1.KVKeysRequest{Prefix: c.prefix, After: c.after, Limit: c.limit})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(r.Keys, " "); got != c.want || r.More != c.more {
			t.Errorf("KVKeys(%q, %q, %d) = %q %v, want %q %v", c.prefix, c.after, c.limit, got, r.More, c.want, c.more)
		}
	}
	r, err := other.KVKeys(ctx, &blockv1.KVKeysRequest{})
	if err != nil || !slices.Equal(r.Keys, []string{"req.z"}) {
		t.Errorf("the other block's keys: %v %v", r.GetKeys(), err)
	}
}
