package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http/httptest"
	netmail "net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/httpapi"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
)

func TestMain(m *testing.M) { hosttest.Main(m) }

// blocks are the binaries the engine tests run.
var blocks = []string{"signature=.", "csv", "makepdf=testdata/blocks/makepdf", "template", "webhook"}

// hostEnv is a paperflow host in a temp dir: embedded NATS, an engine
// with the outbox mail transport, and the HTTP server (documents and block
// routes) on 127.0.0.1, as `paperflow serve` runs them.
type hostEnv struct {
	bus    *bus.Bus
	engine *engine.Engine
	outbox mail.Outbox
	api    *httpapi.Server
	url    string // the public URL
	log    *slog.Logger
	// plugins is the directory of the block binaries.
	plugins string
}

func newHostEnv(t testing.TB) *hostEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("runs block binaries through the engine")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	h := hosttest.Start(t, hosttest.Options{Blocks: blocks, PublicURL: url})
	env := &hostEnv{bus: h.Bus, engine: h.Engine, outbox: h.Outbox, url: url, log: h.Log, plugins: h.PluginDir}
	env.api = &httpapi.Server{Documents: env.engine.Documents(), Log: env.log}
	srv := httptest.NewUnstartedServer(env.api.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return env
}

// load writes a workflow and its CSV into a temp dir and loads it.
func (env *hostEnv) load(t testing.TB, wfYAML, csvText string) *workflow.Workflow {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "items.csv"), []byte(csvText), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "wf.yaml")
	if err := os.WriteFile(file, []byte(wfYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	wf, problems := workflow.Load(file, env.engine.Catalog())
	if len(problems) > 0 {
		t.Fatalf("load workflow: %v", problems)
	}
	return wf
}

// serveBlock starts the workflow's signature block as `paperflow serve`
// does (a supervised process with the Host service) and mounts its routes.
func (env *hostEnv) serveBlock(t testing.TB, wf *workflow.Workflow, id string) *pluginhost.Block {
	t.Helper()
	for _, def := range wf.Blocks {
		if def.ID != id {
			continue
		}
		blk, err := pluginhost.Start(context.Background(), pluginhost.Spec{
			Instance: pluginhost.Instance{Workflow: wf.Name, BlockID: def.ID}, Uses: def.Uses,
			Path: filepath.Join(env.plugins, def.Uses), Config: def.ConfigJSON(), WorkflowDir: wf.Dir, PublicURL: env.url,
		}, env.engine, env.log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(blk.Close)
		env.api.Mount(wf.Name, def.ID, blk)
		return blk
	}
	t.Fatalf("no block %s", id)
	return nil
}

// published reads the run's events from the PAPERFLOW_EVENTS stream, with
// their raw bytes as published.
func (env *hostEnv) published(t testing.TB, runID string) []publishedEvent {
	t.Helper()
	ctx := context.Background()
	cons, err := env.bus.JS.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []publishedEvent
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var ev events.Envelope
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Metadata.RunID == runID {
				out = append(out, publishedEvent{ev, append([]byte(nil), m.Data()...)})
			}
		}
		if n == 0 {
			return out
		}
	}
}

type publishedEvent struct {
	events.Envelope
	raw []byte
}

func ofType(evs []publishedEvent, typ, item string) []publishedEvent {
	var out []publishedEvent
	for _, e := range evs {
		if string(e.EventType) == typ && (item == "" || e.Metadata.ItemID == item) {
			out = append(out, e)
		}
	}
	return out
}

// outboxLinks returns the signing links mailed to addr, oldest first,
// read from the outbox's .eml files as a mail client would decode them.
func (env *hostEnv) outboxLinks(t testing.TB, addr string) []string {
	t.Helper()
	files, err := env.outbox.List()
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(regexp.QuoteMeta(env.url) + `/blocks/[a-z0-9_-]+/[A-Za-z0-9_-]+/sign/[A-Za-z0-9_-]{43}`)
	var out []string
	for _, f := range files {
		if !strings.HasPrefix(f, "/") {
			f = filepath.Join(env.outbox.Dir, f)
		}
		raw, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := netmail.ReadMessage(raw)
		if err != nil {
			raw.Close()
			t.Fatal(err)
		}
		to, _ := msg.Header.AddressList("To")
		if len(to) == 1 && to[0].Address == addr {
			text := plainText(t, msg.Header.Get("Content-Type"), msg.Body)
			if l := link.FindString(text); l != "" {
				out = append(out, l)
			}
		}
		raw.Close()
	}
	return out
}

// plainText is the decoded text/plain part of a message body.
func plainText(t testing.TB, contentType string, body io.Reader) string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, _ := io.ReadAll(body)
		return string(b)
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err != nil {
			return ""
		}
		ct := p.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "multipart/") {
			if s := plainText(t, ct, p); s != "" {
				return s
			}
		} else if strings.HasPrefix(ct, "text/plain") {
			b, _ := io.ReadAll(p)
			return string(b)
		}
	}
}

const signWorkflow = `name: hiring
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: contract
    uses: makepdf
  - id: sign
    uses: signature
    with:
      documents: [contract]
      recipients:
        - {email: "{{Email}}", name: "{{Name}}", order: 1}
        - {email: hr@example.com, name: HR Department, order: 2}
      subject: "Contract for {{Name}}"
      message: "Please read the contract and sign it."
`

// signedPDFOK checks a signed PDF with pdfsig when it is installed (and
// with pdfsign.Verify in any case).
func runPdfsig(t testing.TB, pdf []byte) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath("pdfsig")
	if err != nil {
		return "", false
	}
	path := filepath.Join(t.TempDir(), "signed.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(bin, path).CombinedOutput()
	return string(out), true
}
