package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
)

// deployBlocks builds the blocks of the signature workflow into pluginDir
// once, beside the ones TestMain builds.
var deployBlocks = sync.OnceValue(func() error {
	for name, pkg := range map[string]string{"template": "../../plugins/template", "signature": "../../plugins/signature"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(pluginDir, name), pkg).CombinedOutput(); err != nil {
			return &buildError{name: name, out: string(out), err: err}
		}
	}
	return nil
})

type buildError struct {
	name, out string
	err       error
}

func (e *buildError) Error() string { return "build " + e.name + ": " + e.err.Error() + "\n" + e.out }

// signatureWorkflow is workflows/signature.yaml's shape: a letter per
// person, signed in the browser.
const signatureWorkflow = `name: signing
source: {uses: csv, with: {path: ../data/people.csv}}
blocks:
  - id: letter
    uses: template
    with: {template: ../templates/letter.md, name: "%s {{Name}}"}
  - id: sign
    uses: signature
    with:
      documents: [letter]
      recipients: [{email: "{{Email}}", name: "{{Name}}", order: 1}]
      subject: Please sign
`

// deployedHost is a host with its own data directory on a shared NATS.
type deployedHost struct {
	srv   *Server
	eng   *engine.Engine
	store *deploy.Store
	bus   *bus.Bus
}

func newDeployedHost(t *testing.T, natsURL string) *deployedHost {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	log := hosttest.Logger(t, slog.LevelError)
	b, err := bus.Open(ctx, bus.Options{URL: natsURL, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	e, err := engine.New(ctx, engine.Options{
		Bus: b, Plugins: pluginhost.Registry{Dir: pluginDir}, PublicURL: "http://pages.example",
		Mail: mail.Outbox{Dir: filepath.Join(dir, "outbox")}, Log: log, RetryDelay: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	store := deploy.New(e.Store(), deploy.Options{CacheDir: filepath.Join(dir, "workflows"), Catalog: e.Catalog(), Log: log})
	srv, err := New(Config{
		Bus: b, Engine: e, Workflows: store, HTTPAddr: "127.0.0.1:0", PublicURL: "http://pages.example",
		APIToken: "token", BlockSettings: pluginhost.Settings{}, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &deployedHost{srv: srv, eng: e, store: store, bus: b}
}

// deploySigning writes the signing workflow into a temporary folder,
// deploys it and deletes the folder.
func deploySigning(t *testing.T, h *deployedHost, marker string, people int) string {
	t.Helper()
	root := t.TempDir()
	csv := "Name,Email\n"
	for i := range people {
		csv += "P" + string(rune('a'+i%26)) + ",p" + string(rune('a'+i%26)) + "@example.com\n"
	}
	files := map[string]string{
		"flows/signing.yaml":  strings.Replace(signatureWorkflow, "%s", marker, 1),
		"data/people.csv":     csv,
		"templates/letter.md": "Dear {{Name}},\n\nplease sign.\n",
	}
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wf, problems := workflow.Load(filepath.Join(root, "flows", "signing.yaml"), h.eng.Catalog())
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	res, err := h.store.DeployFile(context.Background(), wf, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	return res.Version
}

// startSharedNATS starts an embedded NATS that hosts reach by URL.
func startSharedNATS(t *testing.T) string {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if _, err := b.EnsureStore(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b.ClientURL
}

// TestDeployedWorkflowOnTwoHosts: a workflow deployed from a folder that
// is then deleted runs on two hosts started at the same moment on one
// NATS, and its signing link opens on both.
func TestDeployedWorkflowOnTwoHosts(t *testing.T) {
	if err := deployBlocks(); err != nil {
		t.Fatal(err)
	}
	runOnTwoHosts(t, startSharedNATS(t))
}

// TestDeployedWorkflowOnTwoHostsOnACluster is the same on a cluster of
// three nats-server processes, with each host on a node of its own.
func TestDeployedWorkflowOnTwoHostsOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node nats-server cluster")
	}
	if err := deployBlocks(); err != nil {
		t.Fatal(err)
	}
	urls := strings.Split(hosttest.NATSCluster(t, 3), ",")
	// The hosts list their nodes in different orders, so they connect to
	// different servers.
	hosts := runOnTwoHosts(t, strings.Join(urls, ","), strings.Join([]string{urls[2], urls[0], urls[1]}, ","))
	for i, h := range hosts {
		if h.bus.Replicas != 3 {
			t.Errorf("host %d keeps %d replicas on the cluster, want 3", i, h.bus.Replicas)
		}
	}
}

// runOnTwoHosts starts two hosts at the same moment, one on each NATS URL
// given (the first for both when only one is), deploys the signing
// workflow from a folder that is then deleted, runs it through a
// hand-over and opens its signing link on both hosts.
func runOnTwoHosts(t *testing.T, natsURLs ...string) []*deployedHost {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	second := natsURLs[len(natsURLs)-1]
	hosts := []*deployedHost{newDeployedHost(t, natsURLs[0]), newDeployedHost(t, second)}
	version := deploySigning(t, hosts[0], "Letter", 1)

	var wg sync.WaitGroup
	errs := make([]error, len(hosts))
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.srv.Start(ctx)
		}()
	}
	wg.Wait()
	for i, h := range hosts {
		if errs[i] != nil {
			t.Fatalf("host %d: %v", i, errs[i])
		}
		t.Cleanup(func() { _ = h.srv.Close() })
		if got := h.srv.Workflows(); len(got) != 1 || got[0] != "signing" {
			t.Fatalf("host %d serves %v", i, got)
		}
	}

	raw, _ := json.Marshal(StartRunRequest{Workflow: "signing"})
	msg, err := hosts[0].bus.NC.RequestWithContext(ctx, StartRunSubject, raw)
	if err != nil {
		t.Fatal(err)
	}
	var reply StartRunReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil || reply.Error != "" {
		t.Fatalf("hand-over: %s", msg.Data)
	}
	sum, err := hosts[1].eng.Follow(ctx, reply.RunID, nil)
	if err != nil || sum.Items != 1 || sum.Failed != 0 {
		t.Fatalf("run: %+v %v", sum, err)
	}
	rec, err := hosts[1].eng.RunRecord(ctx, reply.RunID)
	if err != nil || rec.Version != version {
		t.Fatalf("run record %+v %v; want version %s", rec, err, version)
	}

	link := signingLink(t, hosts[0].bus, reply.RunID)
	for i, h := range hosts {
		resp, err := http.Get("http://" + h.srv.Addr() + link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("host %d: the signing link %s answers %d", i, link, resp.StatusCode)
		}
	}
	return hosts
}

// signingLink is the path of the first signing link of a run's
// SIGNATURES_REQUESTED event.
func signingLink(t *testing.T, b *bus.Bus, runID string) string {
	t.Helper()
	for _, env := range hosttest.RunEnvelopes(t, b.JS, runID) {
		if env.EventType != "SIGNATURES_REQUESTED" {
			continue
		}
		var data struct {
			Recipients []struct {
				URL string `json:"signature_url"`
			} `json:"recipients"`
		}
		if err := json.Unmarshal(env.Data, &data); err != nil || len(data.Recipients) == 0 {
			t.Fatalf("SIGNATURES_REQUESTED data %s: %v", env.Data, err)
		}
		u, err := url.Parse(data.Recipients[0].URL)
		if err != nil {
			t.Fatal(err)
		}
		return u.RequestURI()
	}
	t.Fatal("no SIGNATURES_REQUESTED event")
	return ""
}

// TestRunKeepsItsVersion: a version deployed while a run goes on changes
// what hosts serve, not the run: every host that joins it loads the
// version it started on.
func TestRunKeepsItsVersion(t *testing.T) {
	if err := deployBlocks(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	natsURL := startSharedNATS(t)
	a, b := newDeployedHost(t, natsURL), newDeployedHost(t, natsURL)
	v1 := deploySigning(t, a, "first", 60)
	if err := b.srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.srv.Close() })

	wf, _, err := a.store.Load(ctx, "signing", v1)
	if err != nil {
		t.Fatal(err)
	}
	var v2 string
	sum, err := a.eng.Run(ctx, wf, engine.RunOptions{Version: v1, OnStart: func(string) {
		v2 = deploySigning(t, a, "second", 60)
	}})
	if err != nil || sum.Failed != 0 {
		t.Fatalf("run: %+v %v", sum, err)
	}
	if v2 == v1 {
		t.Fatal("the second deploy made no new version")
	}
	if cur, err := a.store.Current(ctx, "signing"); err != nil || cur.Version != v2 {
		t.Fatalf("current %+v %v, want %s", cur, err, v2)
	}
	rec, err := a.eng.RunRecord(ctx, sum.RunID)
	if err != nil || rec.Version != v1 {
		t.Fatalf("run record %+v %v; want version %s", rec, err, v1)
	}
	docs := 0
	for _, env := range hosttest.RunEnvelopes(t, a.bus.JS, sum.RunID) {
		if env.EventType != "DOCUMENTS_CREATED" {
			continue
		}
		docs++
		if !strings.Contains(string(env.Data), `"first `) || strings.Contains(string(env.Data), `"second `) {
			t.Fatalf("a document of the run was made by another version: %s", env.Data)
		}
	}
	if docs != 60 {
		t.Fatalf("%d DOCUMENTS_CREATED events, want 60", docs)
	}
}
