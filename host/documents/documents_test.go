package documents_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
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
	docs, err := documents.Open(ctx, s.Documents, s.HostKV, "http://docs.test")
	if err != nil {
		t.Fatal(err)
	}
	link := docs.URL(docID, "a.pdf", time.Hour)
	b.Close()

	// A clean restart keeps the key.
	b, s = openStore(t, data)
	docs, err = documents.Open(ctx, s.Documents, s.HostKV, "http://docs.test")
	if err != nil {
		t.Fatal(err)
	}
	assertSignedBy(t, docs, link)
	b.Close()

	damage(t, data, "KV_"+bus.HostBucket)
	b, s = openStore(t, data)
	defer b.Close()
	_, err = documents.Open(ctx, s.Documents, s.HostKV, "http://docs.test")
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
	d1, err := documents.Open(ctx, s.Documents, s.HostKV, "http://docs.test")
	if err != nil {
		t.Fatal(err)
	}
	d2, err := documents.Open(ctx, s.Documents, s.HostKV, "http://docs.test")
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
