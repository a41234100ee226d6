package documents_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/documents"
	"github.com/paperflow/paperflow/host/documents/origin"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/plugins/sdk"
	sdkevents "github.com/paperflow/paperflow/plugins/sdk/events"
)

// TestDownloadsAreEvents: a document announced by DOCUMENTS_CREATED gets
// its run, item and block recorded by the events publisher; then every
// successful GET of its link from byte 0 publishes one valid
// DOCUMENT_DOWNLOADED of that item, and HEAD, later ranges, refused and
// expired links, and a document no event announced publish none.
func TestDownloadsAreEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, s := openStore(t, t.TempDir())
	defer b.Close()
	if _, err := events.EnsureStream(ctx, b.JS, 1, 0); err != nil {
		t.Fatal(err)
	}
	docs, err := documents.Open(ctx, b.JS, s.Documents, s.HostKV, "http://docs.test")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	documents.SetNow(docs, func() time.Time { return now })
	pdf := make([]byte, 4000)
	copy(pdf, "%PDF-1.7\n")
	made, err := docs.Put(ctx, "Contract Ada.pdf", "application/pdf", pdf)
	if err != nil {
		t.Fatal(err)
	}
	uploaded, err := docs.Put(ctx, "Upload.pdf", "application/pdf", pdf)
	if err != nil {
		t.Fatal(err)
	}

	v, err := events.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	_, raw, err := events.New(events.Metadata{Workflow: "hiring", RunID: "run-1", ItemID: "row-2", BlockID: "contract#1"}, events.DocumentsCreated,
		sdkevents.DocumentsCreatedData{Documents: sdkevents.Documents([]sdk.Document{made})})
	if err != nil {
		t.Fatal(err)
	}
	docStream, err := b.JS.Stream(ctx, "OBJ_"+bus.DocumentsBucket)
	if err != nil {
		t.Fatal(err)
	}
	before, err := docStream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.NewPublisher(b.JS, v).Publish(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if o, ok, err := origin.NewStore(b.JS).Lookup(ctx, made.ID); err != nil || !ok || o != (origin.Origin{Workflow: "hiring", RunID: "run-1", ItemID: "row-2", BlockID: "contract"}) {
		t.Fatalf("recorded origin %+v (%v, %v)", o, ok, err)
	}
	// Recording it left the documents' own stream alone: rewriting a
	// document's metadata stored a message and deleted one, and had NATS
	// load the document's block to do so.
	after, err := docStream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.State.LastSeq != before.State.LastSeq || after.State.NumDeleted != before.State.NumDeleted {
		t.Errorf("documents stream went from last seq %d (%d deleted) to %d (%d deleted) when the event was published",
			before.State.LastSeq, before.State.NumDeleted, after.State.LastSeq, after.State.NumDeleted)
	}
	if back, data, err := docs.Get(ctx, made.ID); err != nil || len(data) != len(pdf) || back.Name != "Contract Ada.pdf" {
		t.Fatalf("the document after its origin was recorded: %+v %d %v", back, len(data), err)
	}

	link := func(d sdk.Document, ttl time.Duration) string {
		u, err := url.Parse(docs.URL(d.ID, d.Name, ttl))
		if err != nil {
			t.Fatal(err)
		}
		return u.RequestURI()
	}
	good := link(made, time.Hour)
	expired := link(made, time.Minute)
	// The signature's last hex digit changed to another one (always
	// writing "0" left a signature ending in 0 good, one time in 16).
	last := "0"
	if strings.HasSuffix(good, "0") {
		last = "1"
	}
	badSig := good[:len(good)-1] + last
	for _, c := range []struct {
		name, method, target, rangeHeader string
		status, events                    int
	}{
		{"GET", http.MethodGet, good, "", http.StatusOK, 1},
		{"GET again", http.MethodGet, good, "", http.StatusOK, 1},
		{"HEAD", http.MethodHead, good, "", http.StatusOK, 0},
		{"range from 0", http.MethodGet, good, "bytes=0-1023", http.StatusPartialContent, 1},
		{"ranges from 0", http.MethodGet, good, "bytes=0-99,200-299", http.StatusPartialContent, 1},
		{"later range", http.MethodGet, good, "bytes=1024-", http.StatusPartialContent, 0},
		{"range beyond the end", http.MethodGet, good, "bytes=5000-", http.StatusRequestedRangeNotSatisfiable, 0},
		{"bad signature", http.MethodGet, badSig, "", http.StatusForbidden, 0},
		{"expired", http.MethodGet, expired, "", http.StatusGone, 0},
		{"no known item", http.MethodGet, link(uploaded, time.Hour), "", http.StatusOK, 0},
	} {
		if c.name == "expired" {
			now = now.Add(2 * time.Minute)
		}
		before := downloadEvents(t, b.JS)
		r := httptest.NewRequest(c.method, c.target, nil)
		r.Header.Set("User-Agent", "TestAgent/1.0")
		r.RemoteAddr = "10.0.0.1:41000" // the operator's proxy
		r.Header.Set("X-Forwarded-For", "203.0.113.7")
		if c.rangeHeader != "" {
			r.Header.Set("Range", c.rangeHeader)
		}
		rec := httptest.NewRecorder()
		docs.ServeHTTP(rec, r) // publishes before it returns
		got := downloadEvents(t, b.JS)[len(before):]
		if rec.Code != c.status || len(got) != c.events {
			t.Errorf("%s: %d with %d DOCUMENT_DOWNLOADED events, want %d with %d", c.name, rec.Code, len(got), c.status, c.events)
		}
		for _, raw := range got {
			if err := v.Validate(raw); err != nil {
				t.Errorf("%s: %v\n%s", c.name, err, raw)
			}
			var ev struct {
				EventID  string                           `json:"eventId"`
				Data     sdkevents.DocumentDownloadedData `json:"data"`
				Metadata events.Metadata                  `json:"metadata"`
			}
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			d := ev.Data
			if d.Document.ID != made.ID || d.Document.Name != "Contract Ada.pdf" || d.MadeBy != "contract" || d.IP != "203.0.113.7" ||
				d.UserAgent != "TestAgent/1.0" || d.Via != "link" || d.RecipientEmail != "" ||
				ev.Metadata.RunID != "run-1" || ev.Metadata.ItemID != "row-2" || ev.Metadata.BlockID != "contract" || ev.Metadata.Workflow != "hiring" {
				t.Errorf("%s: event %s", c.name, raw)
			}
		}
	}

	// The address recorded is the one the operator's proxies saw: what a
	// client writes in its own X-Forwarded-For is not believed.
	for _, c := range []struct {
		name, remote string
		forwarded    []string
		ip           string
	}{
		{"straight from the client", "198.51.100.4:5000", nil, "198.51.100.4"},
		{"straight, naming another address", "198.51.100.4:5000", []string{"203.0.113.7"}, "198.51.100.4"},
		{"straight, naming a private one", "198.51.100.4:5000", []string{"10.0.0.9"}, "198.51.100.4"},
		{"through the proxy", "127.0.0.1:5000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"through the proxy, with a forged entry before", "127.0.0.1:5000", []string{"192.0.2.66, 203.0.113.7"}, "203.0.113.7"},
		{"through two proxies", "10.0.0.1:5000", []string{"192.0.2.66, 203.0.113.7, 10.0.0.2"}, "203.0.113.7"},
		{"through two proxies, two headers", "10.0.0.1:5000", []string{"192.0.2.66", "203.0.113.7, 10.0.0.2"}, "203.0.113.7"},
		{"through the proxy, nothing forwarded", "[::1]:5000", nil, "::1"},
		{"through the proxy, garbage forwarded", "10.0.0.1:5000", []string{"not-an-address"}, "10.0.0.1"},
	} {
		before := downloadEvents(t, b.JS)
		r := httptest.NewRequest(http.MethodGet, good, nil)
		r.RemoteAddr = c.remote
		for _, f := range c.forwarded {
			r.Header.Add("X-Forwarded-For", f)
		}
		docs.ServeHTTP(httptest.NewRecorder(), r)
		got := downloadEvents(t, b.JS)[len(before):]
		if len(got) != 1 {
			t.Fatalf("%s: %d DOCUMENT_DOWNLOADED events, want 1", c.name, len(got))
		}
		var ev struct {
			Data sdkevents.DocumentDownloadedData `json:"data"`
		}
		if err := json.Unmarshal(got[0], &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Data.IP != c.ip {
			t.Errorf("%s (connection %s, X-Forwarded-For %q): ip %q, want %q", c.name, c.remote, c.forwarded, ev.Data.IP, c.ip)
		}
	}
	all := downloadEvents(t, b.JS)
	ids := map[string]bool{}
	for _, raw := range all {
		var ev struct {
			EventID string `json:"eventId"`
		}
		_ = json.Unmarshal(raw, &ev)
		ids[ev.EventID] = true
	}
	if len(all) != 13 || len(ids) != 13 {
		t.Errorf("%d DOCUMENT_DOWNLOADED events with %d ids, want 13 of each", len(all), len(ids))
	}
}

// downloadEvents reads every DOCUMENT_DOWNLOADED in the events stream.
func downloadEvents(t *testing.T, js jetstream.JetStream) [][]byte {
	t.Helper()
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.Subject("hiring", events.DocumentDownloaded)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		batch, err := cons.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			out = append(out, append([]byte(nil), m.Data()...))
		}
		if n == 0 {
			return out
		}
	}
}
