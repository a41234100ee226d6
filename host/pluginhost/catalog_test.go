package pluginhost

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countDescribes replaces the launch of block binaries with one that
// counts how often each path is asked.
func countDescribes(t *testing.T) *sync.Map {
	t.Helper()
	var calls sync.Map // path → *atomic.Int64
	orig := describeBinary
	describeBinary = func(_ context.Context, path string, _ *slog.Logger) (Description, error) {
		n, _ := calls.LoadOrStore(path, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		time.Sleep(10 * time.Millisecond) // let concurrent callers meet
		return Description{Name: filepath.Base(path), Path: path}, nil
	}
	t.Cleanup(func() { describeBinary = orig })
	return &calls
}

func launches(calls *sync.Map, path string) int64 {
	n, ok := calls.Load(path)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

func writeBinary(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// TestCatalogDescribesABinaryOncePerBuild: every catalog of the process
// shares one answer per block binary, concurrent callers included, and a
// rebuilt binary is asked again.
func TestCatalogDescribesABinaryOncePerBuild(t *testing.T) {
	calls := countDescribes(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "blk")
	built := time.Now().Add(-time.Hour).Truncate(time.Second)
	writeBinary(t, path, "#!/bin/sh\n", built)

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cat := &Catalog{Registry: Registry{Dir: dir}} // a new catalog per caller, as serve's runs make
			if d, err := cat.Describe(context.Background(), "blk"); err != nil || d.Path != path {
				t.Errorf("describe: %+v, %v", d, err)
			}
		}()
	}
	wg.Wait()
	if n := launches(calls, path); n != 1 {
		t.Fatalf("binary launched %d times to describe it, want 1", n)
	}

	writeBinary(t, path, "#!/bin/sh\n# rebuilt\n", built.Add(time.Minute))
	for range 2 {
		if _, err := (&Catalog{Registry: Registry{Dir: dir}}).Describe(context.Background(), "blk"); err != nil {
			t.Fatal(err)
		}
	}
	if n := launches(calls, path); n != 2 {
		t.Fatalf("after a rebuild the binary was launched %d times in all, want 2", n)
	}
}

// TestCatalogForgetsCancelledAnswers: a describe cut short by its caller's
// context is asked again by the next caller.
func TestCatalogForgetsCancelledAnswers(t *testing.T) {
	dir := t.TempDir()
	writeBinary(t, filepath.Join(dir, "blk"), "#!/bin/sh\n", time.Now())
	orig := describeBinary
	t.Cleanup(func() { describeBinary = orig })
	var n atomic.Int64
	describeBinary = func(ctx context.Context, path string, _ *slog.Logger) (Description, error) {
		if n.Add(1) == 1 {
			return Description{}, ctx.Err()
		}
		return Description{Name: "blk", Path: path}, nil
	}
	cat := &Catalog{Registry: Registry{Dir: dir}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cat.Describe(ctx, "blk"); err == nil {
		t.Fatal("a cancelled describe succeeded")
	}
	if _, err := cat.Describe(context.Background(), "blk"); err != nil {
		t.Fatalf("describe after a cancelled one: %v", err)
	}
}
