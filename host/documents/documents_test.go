package documents_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/documents"
)

func openStore(t *testing.T, data string) (*bus.Bus, *bus.Store) {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.EnsureStore(context.Background())
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	return b, s
}

// damage writes 4 KB of garbage over the start of a stream's block files
// in the embedded store in data, as a failing disk would.
func damage(t *testing.T, data, stream string) {
	t.Helper()
	blks, _ := filepath.Glob(filepath.Join(data, "nats", "jetstream", "*", "streams", stream, "msgs", "*.blk"))
	if len(blks) == 0 {
		t.Fatalf("no block file of %s", stream)
	}
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*7 + 3)
	}
	for _, blk := range blks {
		if err := os.WriteFile(blk, garbage, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLostSigningKeyIsNotReplaced: when the host bucket is damaged and the
// URL signing key is gone, Open refuses to make a new key (which would
// quietly break every link already sent) and says how to restore.
func TestLostSigningKeyIsNotReplaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := t.TempDir()
	b, s := openStore(t, data)
	docs, err := documents.Open(ctx, b.JS, s.Documents, s.HostKV, "http://docs.test")
	if err != nil {
		t.Fatal(err)
	}
	link := docs.URL(docID, "a.pdf", time.Hour)
	b.Close()

	// A clean restart keeps the key.
	b, s = openStore(t, data)
	docs, err = documents.Open(ctx, b.JS, s.Documents, s.HostKV, "http://docs.test")
	if err != nil {
		t.Fatal(err)
	}
	assertSignedBy(t, docs, link)
	b.Close()

	damage(t, data, "KV_"+bus.HostBucket)
	b, s = openStore(t, data)
	defer b.Close()
	_, err = documents.Open(ctx, b.JS, s.Documents, s.HostKV, "http://docs.test")
	if err == nil {
		t.Fatal("a new signing key was made in a damaged bucket")
	}
	if !strings.Contains(err.Error(), "signing key lost") || !strings.Contains(err.Error(), "paperflow restore") {
		t.Errorf("error %q does not say the key was lost and how to restore", err)
	}
}

// TestFreshBucketGetsAKey: the first host on a new store makes the key,
// and every later Open reads the same one.
func TestFreshBucketGetsAKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, s := openStore(t, t.TempDir())
	defer b.Close()
	d1, err := documents.Open(ctx, b.JS, s.Documents, s.HostKV, "http://docs.test")
	if err != nil {
		t.Fatal(err)
	}
	d2, err := documents.Open(ctx, b.JS, s.Documents, s.HostKV, "http://docs.test")
	if err != nil {
		t.Fatal(err)
	}
	assertSignedBy(t, d2, d1.URL(docID, "a.pdf", time.Hour))
}

const docID = "0123456789abcdef0123456789abcdef"

// assertSignedBy checks docs accepts the signature of link: the document
// does not exist, so an accepted link answers 404, a refused one 403.
func assertSignedBy(t *testing.T, docs *documents.Store, link string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	docs.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u.RequestURI(), nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("link signed before answers %d (%s), want 404: the signing key changed", rec.Code, strings.TrimSpace(rec.Body.String()))
	}
}

// TestPutWritesObjectsTheStoreReads: a document written by Put (one chunk,
// several chunks, empty) reads back through the object store itself, with
// its headers and digest, from another Store that has not seen it; and
// Puts leave no goroutine behind.
func TestPutWritesObjectsTheStoreReads(t *testing.T) {
	// Not parallel: it counts goroutines, and the other tests start and
	// stop NATS connections of their own.
	ctx := context.Background()
	b, s := openStore(t, t.TempDir())
	defer b.Close()
	writer, err := documents.Open(ctx, b.JS, s.Documents, s.HostKV, "http://docs.test")
	if err != nil {
		t.Fatal(err)
	}
	reader, err := documents.Open(ctx, b.JS, s.Documents, s.HostKV, "http://docs.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 10, 128 << 10, 300<<10 + 7} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 31)
		}
		d, err := writer.Put(ctx, "a/b.pdf", "", data)
		if err != nil {
			t.Fatalf("put %d bytes: %v", size, err)
		}
		got, back, err := reader.Get(ctx, d.ID)
		if err != nil {
			t.Fatalf("get %d bytes: %v", size, err)
		}
		if !bytes.Equal(back, data) || got.Name != "a_b.pdf" || got.Mimetype != "application/pdf" || got.SHA256 != d.SHA256 {
			t.Errorf("%d bytes: read back %d bytes as %+v, stored %+v", size, len(back), got, d)
		}
		info, err := s.Documents.GetInfo(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != uint64(size) || info.Headers.Get("Paperflow-Name") != "a_b.pdf" {
			t.Errorf("%d bytes: object info %+v", size, info)
		}
	}
	// nats.go's own ObjectStore.Put leaves a goroutine blocked in
	// resetPendingAcksOnReconnect now and then; ours must leave none.
	before := goroutinesIn("resetPendingAcksOnReconnect")
	for range 300 {
		if _, err := writer.Put(ctx, "x.pdf", "", []byte("%PDF-1.7 small")); err != nil {
			t.Fatal(err)
		}
	}
	if after := goroutinesIn("resetPendingAcksOnReconnect"); after > before {
		t.Errorf("goroutines in resetPendingAcksOnReconnect: %d before 300 puts, %d after", before, after)
	}
}

// goroutinesIn counts the goroutines whose stack names fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			count++
		}
	}
	return count
}
