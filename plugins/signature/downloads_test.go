package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
	sdkevents "github.com/paperflow/paperflow/plugins/sdk/events"
)

// fetch GETs u with a browser's User-Agent and returns the status, the
// Content-Type and the body.
func fetch(t *testing.T, u string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "DownloadTest/1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// TestDocumentDownloadedEvents runs csv → template → signature through the
// real engine, block processes and HTTP server: fetching the contract's
// document link publishes DOCUMENT_DOWNLOADED of its item (via link, made
// by the contract block), a signer's download from the signing page one
// with their address (via signing_page), and the signing page and its
// page images none; every one validates.
func TestDocumentDownloadedEvents(t *testing.T) {
	env := newHostEnv(t)
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "letter.md")
	if err := os.WriteFile(tmpl, []byte("# Agreement for {{Name}}\n\nSignature: ________\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wf := env.load(t, `name: fetching
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: contract
    uses: template
    with: {template: `+tmpl+`, name: "Agreement {{Name}}"}
  - id: sign
    uses: signature
    with:
      documents: [contract]
      recipients: [{email: "{{Email}}", name: "{{Name}}"}]
`, "Name,Email\nAda Lovelace,ada@example.com\n")
	sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil || sum.Succeeded != 1 {
		t.Fatalf("run: %+v %v", sum, err)
	}
	env.serveBlock(t, wf, "sign")
	evs := env.published(t, sum.RunID)
	created := ofType(evs, sdkevents.DocumentsCreated, "")
	requested := ofType(evs, sdkevents.SignaturesRequested, "")
	if len(created) != 1 || len(requested) != 1 {
		t.Fatalf("events: %d DOCUMENTS_CREATED, %d SIGNATURES_REQUESTED", len(created), len(requested))
	}
	var docs sdkevents.DocumentsCreatedData
	var req sdkevents.SignaturesRequestedData
	if json.Unmarshal(created[0].Data, &docs) != nil || json.Unmarshal(requested[0].Data, &req) != nil {
		t.Fatal("event data unreadable")
	}
	doc, link := docs.Documents[0], req.Recipients[0].SignatureURL

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	downloads, err := env.bus.JS.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.Subject(wf.Name, events.DocumentDownloaded)},
	})
	if err != nil {
		t.Fatal(err)
	}
	next := func(what string) []byte {
		t.Helper()
		m, err := downloads.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("no DOCUMENT_DOWNLOADED for %s: %v", what, err)
		}
		if err := env.engine.Validator().Validate(m.Data()); err != nil {
			t.Errorf("%s: %v\n%s", what, err, m.Data())
		}
		return m.Data()
	}
	type downloaded struct {
		Data     sdkevents.DocumentDownloadedData `json:"data"`
		Metadata events.Metadata                  `json:"metadata"`
	}

	// The host's document link.
	if code, ct, body := fetch(t, doc.URL); code != http.StatusOK || ct != "application/pdf" || !strings.HasPrefix(string(body), "%PDF") {
		t.Fatalf("document link: %d %s", code, ct)
	}
	var ev downloaded
	if err := json.Unmarshal(next("the document link"), &ev); err != nil {
		t.Fatal(err)
	}
	if d := ev.Data; d.Document.ID != doc.ID || d.Document.Name != doc.Name || d.MadeBy != "contract" || d.Via != "link" || d.RecipientEmail != "" ||
		d.IP != "127.0.0.1" || d.UserAgent != "DownloadTest/1.0" || ev.Metadata.RunID != sum.RunID || ev.Metadata.ItemID != requested[0].Metadata.ItemID || ev.Metadata.BlockID != "contract" {
		t.Errorf("document link's event: %+v", ev)
	}

	// The signer: the page and its images are no download, the PDF is.
	if code, _, body := fetch(t, link); code != http.StatusOK {
		t.Fatalf("signing page: %d %s", code, body)
	}
	page := strings.Replace(link, "/sign/sign/", "/sign/page/", 1) + "/0/1?w=480"
	for range 2 {
		if code, ct, _ := fetch(t, page); code != http.StatusOK || ct != "image/png" {
			t.Fatalf("page image: %d %s", code, ct)
		}
	}
	if code, ct, body := fetch(t, strings.Replace(link, "/sign/sign/", "/sign/doc/", 1)+"/0"); code != http.StatusOK || ct != "application/pdf" || !strings.HasPrefix(string(body), "%PDF") {
		t.Fatalf("signer's download: %d %s", code, ct)
	}
	ev = downloaded{}
	if err := json.Unmarshal(next("the signer's download"), &ev); err != nil {
		t.Fatal(err)
	}
	if d := ev.Data; d.Document.ID != doc.ID || d.MadeBy != "contract" || d.Via != "signing_page" || d.RecipientEmail != "ada@example.com" ||
		d.IP != "127.0.0.1" || d.UserAgent != "DownloadTest/1.0" || ev.Metadata.RunID != sum.RunID || ev.Metadata.BlockID != "sign" {
		t.Errorf("signer's download event: %+v", ev)
	}
	// The block emits before it answers, so by now the stream holds every
	// event of the signing page's fetches: the two downloads only.
	if n := len(ofType(env.published(t, sum.RunID), sdkevents.DocumentDownloaded, "")); n != 2 {
		t.Errorf("%d DOCUMENT_DOWNLOADED events, want 2", n)
	}
}
