package documents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/plugins/ratelimit"
	"github.com/paperflow/paperflow/plugins/sdk"
	sdkevents "github.com/paperflow/paperflow/plugins/sdk/events"
)

// downloadTimeout bounds publishing one DOCUMENT_DOWNLOADED once the
// document has been sent, whether or not the client is still there.
const downloadTimeout = 10 * time.Second

// downloadEvents publishes DOCUMENT_DOWNLOADED for a Store; made on the
// first download, since compiling the schemas is not free.
type downloadEvents struct {
	once sync.Once
	pub  *events.Publisher
	err  error
}

func (s *Store) publisher() (*events.Publisher, error) {
	s.downloads.once.Do(func() {
		v, err := events.NewValidator()
		if err != nil {
			s.downloads.err = fmt.Errorf("event schemas: %w", err)
			return
		}
		s.downloads.pub = events.NewPublisher(s.js, v)
	})
	return s.downloads.pub, s.downloads.err
}

// downloaded publishes DOCUMENT_DOWNLOADED for a document r has just
// fetched: the event of the item and block that made it (its recorded
// origin; a document without one, such as an uploaded file, publishes
// nothing). Each download is an event of its own (a random key), and a
// failure is logged: the document has been sent already.
func (s *Store) downloaded(r *http.Request, d sdk.Document) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), downloadTimeout)
	defer cancel()
	o, ok, err := s.origins.Lookup(ctx, d.ID)
	if err != nil {
		slog.Warn("DOCUMENT_DOWNLOADED not published: the document's origin is unreadable", "document", d.ID, "err", err)
		return
	}
	if !ok {
		slog.Debug("DOCUMENT_DOWNLOADED not published: no run or item is known for the document", "document", d.ID)
		return
	}
	pub, err := s.publisher()
	if err != nil {
		slog.Error("DOCUMENT_DOWNLOADED not published", "document", d.ID, "err", err)
		return
	}
	now := s.now().UTC()
	data := sdkevents.DocumentDownloadedData{
		Document: sdkevents.DownloadedDocument{ID: d.ID, Name: d.Name, Mimetype: d.Mimetype},
		MadeBy:   o.BlockID, DownloadedAt: now.Format(time.RFC3339), IP: clientIP(r), UserAgent: oneLine(r.UserAgent(), 500),
		Via: sdkevents.DocumentDownloadedDataViaLink,
	}
	meta := events.Metadata{Workflow: o.Workflow, RunID: o.RunID, ItemID: o.ItemID, BlockID: o.BlockID, CreatedAt: now, Key: downloadKey()}
	_, raw, err := events.New(meta, events.DocumentDownloaded, data)
	if err == nil {
		_, err = pub.Publish(ctx, raw)
	}
	if err != nil {
		slog.Error("DOCUMENT_DOWNLOADED not published", "document", d.ID, "run", o.RunID, "item", o.ItemID, "err", err)
	}
}

// downloadKey tells one download's event from another's of the same
// document.
func downloadKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// clientIP is the client's address as the operator's proxies saw it
// (ratelimit.ClientIP, as the rate limits of the signing pages read it),
// or "unknown" when the request has none.
func clientIP(r *http.Request) string {
	if ip := ratelimit.ClientIP(r); ip != "" {
		return ip
	}
	return "unknown"
}

// oneLine keeps a header value printable and short.
func oneLine(s string, max int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max])
	}
	return s
}
