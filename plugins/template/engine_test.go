package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/workflow"
	sdkevents "github.com/paperflow/paperflow/plugins/sdk/events"
)

// TestWorkflowOnEngine runs a real workflow on a real engine with an
// embedded NATS: the csv block reads a copy of people.csv, this block
// renders the Markdown letter, and the test reads the DOCUMENTS_CREATED
// events back from NATS and fetches each document through the host's
// signed URL.
func TestWorkflowOnEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the csv and template blocks")
	}
	dir := t.TempDir()
	for src, dst := range map[string]string{
		"../../examples/data/people.csv":        "people.csv",
		"../../examples/templates/letter.md":    "letter.md",
		"../../examples/templates/logo.png":     "logo.png",
		"../../examples/templates/form.pdf":     "form.pdf",
		"../../examples/templates/invoice.docx": "invoice.docx",
	} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, dst), data, 0o644)
	}
	wfFile := filepath.Join(dir, "invoices.yaml")
	os.WriteFile(wfFile, []byte(`name: invoices
source: {uses: csv, with: {path: people.csv}}
blocks:
  - id: letter
    uses: template
    with: {template: letter.md, name: "Invoice {{Last Name}}"}
  - id: invoice
    uses: template
    with: {template: invoice.docx, name: "Invoice {{Last Name}}"}
`), 0o644)

	b, e := startEngine(t)
	sum := runWorkflow(t, e, wfFile)
	if sum.Items != 8 || sum.Succeeded != 8 || sum.Events["DOCUMENTS_CREATED"] != 16 {
		t.Fatalf("summary: %+v", sum)
	}

	srv := httptest.NewServer(e.Documents())
	defer srv.Close()
	v, err := events.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	var letters []string
	for _, raw := range publishedEvents(t, b, sum.RunID) {
		if err := v.Validate(raw); err != nil {
			t.Errorf("published event does not validate: %v", err)
		}
		var env struct {
			EventType string `json:"eventType"`
			Data      struct {
				Documents []sdkevents.Document `json:"documents"`
			} `json:"data"`
			Metadata struct {
				BlockID string `json:"block_id"`
			} `json:"metadata"`
		}
		json.Unmarshal(raw, &env)
		if env.EventType != "DOCUMENTS_CREATED" || len(env.Data.Documents) != 1 {
			t.Fatalf("event: %s", raw)
		}
		d := env.Data.Documents[0]
		body, ctype := fetch(t, srv.URL, d.URL)
		if ctype != d.Mimetype {
			t.Errorf("%s served as %q, event says %q", d.Name, ctype, d.Mimetype)
		}
		switch env.Metadata.BlockID {
		case "letter":
			if !strings.HasPrefix(string(body), "%PDF-") {
				t.Fatalf("%s is not a PDF", d.Name)
			}
			letters = append(letters, d.Name+": "+pdfText(t, body, ""))
		case "invoice":
			if d.Mimetype != mimeDocx || !strings.Contains(docxText(t, body), "Dear ") {
				t.Errorf("invoice %s: %s", d.Name, d.Mimetype)
			}
		}
	}
	sort.Strings(letters)
	if len(letters) != 8 {
		t.Fatalf("%d letters, want 8", len(letters))
	}
	all := strings.Join(letters, "\n")
	for _, want := range []string{"Invoice Ångström.pdf: ", "Zoë Ångström", "Łukasz Nowak", "Invoice O'Brien.pdf", "Siobhán O'Brien"} {
		if !strings.Contains(all, want) {
			t.Errorf("letters lack %q:\n%s", want, all)
		}
	}
}

func TestMain(m *testing.M) { hosttest.Main(m) }

// startEngine starts an embedded NATS and an engine with the csv block and
// this one.
func startEngine(t *testing.T) (*bus.Bus, *engine.Engine) {
	t.Helper()
	env := hosttest.Start(t, hosttest.Options{Blocks: []string{"csv", "template=."}, PublicURL: "http://127.0.0.1:1"})
	return env.Bus, env.Engine
}

func runWorkflow(t *testing.T, e *engine.Engine, file string) *engine.Summary {
	t.Helper()
	wf, problems := workflow.Load(file, e.Catalog())
	if len(problems) > 0 {
		t.Fatalf("workflow: %v", problems)
	}
	sum, err := e.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestLargeDocumentReachesTheHost: a PDF larger than gRPC's 4 MiB default
// message (a page with an incompressible image) is stored whole.
func TestLargeDocumentReachesTheHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the csv and template blocks")
	}
	dir := t.TempDir()
	img := image.NewNRGBA(image.Rect(0, 0, 1400, 1400))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32()) // noise does not compress
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	os.WriteFile(filepath.Join(dir, "noise.png"), buf.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "big.md"), []byte("# {{Name}}\n\n![noise](noise.png)\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "items.csv"), []byte("Name\nBig\n"), 0o644)
	wfFile := filepath.Join(dir, "big.yaml")
	os.WriteFile(wfFile, []byte("name: big\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: doc, uses: template, with: {template: big.md}}\n"), 0o644)
	_, e := startEngine(t)
	sum := runWorkflow(t, e, wfFile)
	if sum.Succeeded != 1 || sum.Events["DOCUMENTS_CREATED"] != 1 {
		t.Fatalf("summary: %+v", sum)
	}
}

// publishedEvents reads every event of a run from the JetStream stream.
func publishedEvents(t *testing.T, b *bus.Bus, runID string) [][]byte {
	return hosttest.RunEvents(t, b.JS, runID)
}

// fetch gets a document through the host's document handler.
func fetch(t *testing.T, base, docURL string) ([]byte, string) {
	t.Helper()
	u, err := url.Parse(docURL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + u.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u.RequestURI(), resp.StatusCode, body)
	}
	return body, resp.Header.Get("Content-Type")
}
