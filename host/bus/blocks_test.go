package bus

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func openTestBus(t *testing.T, dir string) *Bus {
	t.Helper()
	b, err := Open(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestObjectStoreStream keeps objectStoreStream the configuration the
// jetstream package writes for an object store, so EnsureObjectStore
// makes the same store (with smaller blocks).
func TestObjectStoreStream(t *testing.T) {
	ctx := context.Background()
	b := openTestBus(t, t.TempDir())
	defer b.Close()
	tests := []struct {
		name string
		cfg  jetstream.ObjectStoreConfig
	}{
		{"defaults", jetstream.ObjectStoreConfig{}},
		{"as paperflow's documents", jetstream.ObjectStoreConfig{Storage: jetstream.FileStorage, Replicas: 1, TTL: Retention}},
		{"every field", jetstream.ObjectStoreConfig{
			Description: "d", TTL: time.Hour, MaxBytes: 1 << 30, Storage: jetstream.MemoryStorage,
			Compression: true, Metadata: map[string]string{"k": "v"},
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			theirs, ours := tt.cfg, tt.cfg
			theirs.Bucket, ours.Bucket = "theirs"+string(rune('a'+i)), "ours"+string(rune('a'+i))
			if _, err := b.JS.CreateOrUpdateObjectStore(ctx, theirs); err != nil {
				t.Fatal(err)
			}
			if _, err := EnsureObjectStore(ctx, b.JS, ours, nil); err != nil {
				t.Fatal(err)
			}
			want := streamConfig(t, b, "OBJ_"+theirs.Bucket)
			got := streamConfig(t, b, "OBJ_"+ours.Bucket)
			if got.MaxMsgsPerSubject != SmallBlocks {
				t.Errorf("max messages per subject %d, want SmallBlocks", got.MaxMsgsPerSubject)
			}
			got.MaxMsgsPerSubject = want.MaxMsgsPerSubject
			got.Name, got.Subjects = want.Name, want.Subjects
			if !reflect.DeepEqual(got, want) {
				t.Errorf("object store stream\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func streamConfig(t *testing.T, b *Bus, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := b.JS.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config
}

// TestSmallBlocks writes 5 MiB to the streams given SmallBlocks and
// counts their block files: 4 MiB blocks make two. A store made with the
// earlier configuration (no per-subject limit, 8 MiB blocks) opens, keeps
// its data, and writes 4 MiB blocks from the start after.
func TestSmallBlocks(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// earlier makes the store as a version without SmallBlocks did.
		earlier bool
	}{
		{"a new store", false},
		{"a store of an earlier version", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.earlier {
				b := openTestBus(t, dir)
				if _, err := b.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: OutcomesStream, Subjects: []string{"paperflow.outcomes.>"},
					MaxAge: Retention, Duplicates: DuplicateWindow, Storage: jetstream.FileStorage, Replicas: 1}); err != nil {
					t.Fatal(err)
				}
				docs, err := b.JS.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: DocumentsBucket, Storage: jetstream.FileStorage, Replicas: 1, TTL: Retention})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := docs.PutBytes(ctx, "old", []byte("kept")); err != nil {
					t.Fatal(err)
				}
				if _, err := b.JS.Publish(ctx, OutcomesSubject("old"), []byte("kept")); err != nil {
					t.Fatal(err)
				}
				b.Close()
				// The first start updates the configuration; the server
				// loaded the streams before, with their 8 MiB blocks.
				b = openTestBus(t, dir)
				if _, err := b.EnsureStore(ctx); err != nil {
					t.Fatalf("open a store of an earlier version: %v", err)
				}
				b.Close()
			}
			b := openTestBus(t, dir)
			defer b.Close()
			s, err := b.EnsureStore(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tt.earlier {
				if got, err := s.Documents.GetBytes(ctx, "old"); err != nil || string(got) != "kept" {
					t.Errorf("document of the earlier version: %q, %v", got, err)
				}
				if m, err := s.Outcomes.GetLastMsgForSubject(ctx, OutcomesSubject("old")); err != nil || string(m.Data) != "kept" {
					t.Errorf("outcome of the earlier version: %v", err)
				}
			}
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for i := range 80 {
				if _, err := b.JS.Publish(ctx, OutcomesSubject("run"), chunk); err != nil {
					t.Fatal(err)
				}
				m := nats.NewMsg("$O." + DocumentsBucket + ".C.blocktest")
				m.Data = chunk
				if _, err := b.JS.PublishMsg(ctx, m); err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
			}
			for _, stream := range []string{OutcomesStream, "OBJ_" + DocumentsBucket} {
				cfg := streamConfig(t, b, stream)
				if cfg.MaxMsgsPerSubject != SmallBlocks {
					t.Errorf("%s: max messages per subject %d, want SmallBlocks", stream, cfg.MaxMsgsPerSubject)
				}
				blks, _ := filepath.Glob(filepath.Join(dir, "nats", "jetstream", "*", "streams", stream, "msgs", "*.blk"))
				if len(blks) < 2 {
					t.Errorf("%s: 5 MiB written in %d block files, want 4 MiB blocks (2 or more)", stream, len(blks))
				}
			}
		})
	}
}
