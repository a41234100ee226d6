// Package documents stores the files blocks make (PDFs, .docx) in the NATS
// object store and serves them at signed, expiring URLs, so a link in an
// event or an email works without an account and stops working later.
package documents

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/documents/origin"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// DefaultTTL is how long a document URL works when nobody asks otherwise.
const DefaultTTL = 7 * 24 * time.Hour

// MaxSize bounds one document.
const MaxSize = 64 << 20

const signingKeyName = "documents.url-signing-key"

// Store keeps documents and signs their URLs.
type Store struct {
	objects   jetstream.ObjectStore
	js        jetstream.JetStream
	bucket    string
	key       []byte
	publicURL string
	now       func() time.Time
	recent    recentDocs
	origins   *origin.Store // who made each document, for downloads
	ids       origin.IDs    // ids whose origins share entries
	downloads downloadEvents
}

// Open loads (or, on the first host, creates) the URL signing key shared
// by every host of the cluster. js is the long-lived JetStream context
// documents are written with (see put).
func Open(ctx context.Context, js jetstream.JetStream, objects jetstream.ObjectStore, hostKV jetstream.KeyValue, publicURL string) (*Store, error) {
	key, err := sharedKey(ctx, hostKV)
	if err != nil {
		return nil, err
	}
	st, err := objects.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("document store status: %w", err)
	}
	return &Store{objects: objects, js: js, bucket: st.Bucket(), key: key, publicURL: strings.TrimRight(publicURL, "/"), now: time.Now, origins: origin.NewStore(js)}, nil
}

// ErrSigningKeyLost: the bucket that holds the URL signing key has held
// data, yet the key is not there. The store was damaged; a new key would
// silently break every link sent before, so none is made.
var ErrSigningKeyLost = errors.New("document signing key lost")

func sharedKey(ctx context.Context, kv jetstream.KeyValue) ([]byte, error) {
	e, err := kv.Get(ctx, signingKeyName)
	if err == nil {
		return e.Value(), nil
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("load document signing key: %w", err)
	}
	// Only a bucket that never held a message is new: the key is the
	// first thing written to it, so in any other bucket it was lost.
	last, err := lastSeq(ctx, kv)
	if err != nil {
		return nil, fmt.Errorf("load document signing key: %w", err)
	}
	if last > 0 {
		// Another host may have just made it.
		if e, err := kv.Get(ctx, signingKeyName); err == nil {
			return e.Value(), nil
		}
		return nil, fmt.Errorf("%w: KV bucket %s has held %d messages but the key %q is not in it, so the NATS store is damaged. "+
			"Stop every paperflow host and restore the last backup: `paperflow restore DIR --force`. "+
			"To start over with a new key instead (every document link sent so far stops working), remove the bucket with every host stopped: `nats kv rm %s`",
			ErrSigningKeyLost, kv.Bucket(), last, signingKeyName, kv.Bucket())
	}
	key, err := bus.CreateSecret(ctx, kv, signingKeyName)
	if err != nil {
		return nil, fmt.Errorf("create document signing key: %w", err)
	}
	return key, nil
}

// lastSeq is the last sequence of the bucket's stream: 0 when it never
// held a message.
func lastSeq(ctx context.Context, kv jetstream.KeyValue) (uint64, error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("KV bucket %s status: %w", kv.Bucket(), err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil {
		return 0, fmt.Errorf("KV bucket %s: no stream state", kv.Bucket())
	}
	return bs.StreamInfo().State.LastSeq, nil
}

var idPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Put stores data and returns its descriptor with a signed URL.
func (s *Store) Put(ctx context.Context, name, mimetype string, data []byte) (sdk.Document, error) {
	if len(data) > MaxSize {
		return sdk.Document{}, fmt.Errorf("document %q is %d bytes; the limit is %d", name, len(data), MaxSize)
	}
	name = cleanName(name)
	if mimetype == "" {
		mimetype = mime.TypeByExtension(extOf(name))
		if mimetype == "" {
			mimetype = "application/octet-stream"
		}
	}
	id, err := s.ids.Next()
	if err != nil {
		return sdk.Document{}, err
	}
	sum := sha256.Sum256(data)
	meta := jetstream.ObjectMeta{
		Name:    id,
		Headers: map[string][]string{"Paperflow-Name": {name}, "Content-Type": {mimetype}, "Paperflow-Sha256": {hex.EncodeToString(sum[:])}},
	}
	if err := s.put(ctx, meta, data, sum); err != nil {
		return sdk.Document{}, fmt.Errorf("store document %q: %w", name, err)
	}
	d := sdk.Document{ID: id, Name: name, Mimetype: mimetype, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	s.recent.add(d, data)
	d.URL = s.URL(d.ID, d.Name, DefaultTTL)
	return d, nil
}

// Get loads a document.
func (s *Store) Get(ctx context.Context, id string) (sdk.Document, []byte, error) {
	if !idPattern.MatchString(id) {
		return sdk.Document{}, nil, fmt.Errorf("document id %q is not valid", id)
	}
	if d, data, ok := s.recent.take(id); ok {
		d.URL = s.URL(id, d.Name, DefaultTTL)
		return d, data, nil
	}
	res, err := s.objects.Get(ctx, id)
	if err != nil {
		return sdk.Document{}, nil, fmt.Errorf("document %s: %w", id, err)
	}
	defer res.Close()
	data, err := io.ReadAll(io.LimitReader(res, MaxSize+1))
	if err != nil {
		return sdk.Document{}, nil, fmt.Errorf("read document %s: %w", id, err)
	}
	info, err := res.Info()
	if err != nil {
		return sdk.Document{}, nil, fmt.Errorf("document %s: %w", id, err)
	}
	h := info.Headers
	d := sdk.Document{ID: id, Name: h.Get("Paperflow-Name"), Mimetype: h.Get("Content-Type"), Size: int64(len(data)), SHA256: h.Get("Paperflow-Sha256")}
	d.URL = s.URL(id, d.Name, DefaultTTL)
	return d, data, nil
}

// URL signs a link to a document that works until ttl from now.
func (s *Store) URL(id, name string, ttl time.Duration) string {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	exp := strconv.FormatInt(s.now().Add(ttl).Unix(), 10)
	q := url.Values{"exp": {exp}, "sig": {s.sign(id, exp)}}
	return s.publicURL + "/documents/" + id + "/" + url.PathEscape(name) + "?" + q.Encode()
}

// URLFor signs a link for a stored document by id.
func (s *Store) URLFor(ctx context.Context, id string, ttl time.Duration) (string, error) {
	info, err := s.objects.GetInfo(ctx, id)
	if err != nil {
		return "", fmt.Errorf("document %s: %w", id, err)
	}
	return s.URL(id, info.Headers.Get("Paperflow-Name"), ttl), nil
}

func (s *Store) sign(id, exp string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(id + "\x00" + exp))
	return hex.EncodeToString(m.Sum(nil))
}

// ServeHTTP serves GET (and HEAD) /documents/<id>/<name>?exp=&sig=,
// ranges included. A successful GET of the whole document, or of a range
// starting at byte 0, publishes DOCUMENT_DOWNLOADED (see downloaded);
// HEAD, later ranges and refused or expired links publish nothing, so a
// PDF viewer fetching a document in pieces counts once.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/documents/")
	id, _, _ := strings.Cut(rest, "/")
	exp, sig := r.URL.Query().Get("exp"), r.URL.Query().Get("sig")
	expUnix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !idPattern.MatchString(id) || !hmac.Equal([]byte(sig), []byte(s.sign(id, exp))) {
		http.Error(w, "this document link is not valid", http.StatusForbidden)
		return
	}
	if s.now().Unix() > expUnix {
		http.Error(w, "this document link has expired; ask the sender for a new one", http.StatusGone)
		return
	}
	d, data, err := s.Get(r.Context(), id)
	if err != nil {
		http.Error(w, "document not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", d.Mimetype)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": d.Name}))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "private, no-store")
	sw := &statusWriter{ResponseWriter: w}
	http.ServeContent(sw, r, "", time.Time{}, bytes.NewReader(data))
	if r.Method == http.MethodGet && (sw.status == http.StatusOK || (sw.status == http.StatusPartialContent && rangeFromStart(r.Header.Get("Range")))) {
		s.downloaded(r, d)
	}
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// rangeFromStart says whether a Range header's first range starts at
// byte 0 ("bytes=0-", "bytes=0-1023,...").
func rangeFromStart(h string) bool {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok {
		return false
	}
	first, _, _ := strings.Cut(spec, ",")
	start, _, ok := strings.Cut(strings.TrimSpace(first), "-")
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(start), 10, 64)
	return err == nil && n == 0
}

// cleanName keeps a document name a plain file name: no directories, no
// control characters.
func cleanName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	name = strings.Trim(name, ". ")
	if name == "" {
		name = "document"
	}
	return name
}

func extOf(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i:]
	}
	return ""
}
