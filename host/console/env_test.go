package console_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/console"
	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/httpapi"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
)

// pluginDir holds the block binaries the tests run through the engine,
// built once by TestMain.
var pluginDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "paperflow-console-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	blocks := map[string]string{"csv": "../../plugins/csv", "email": "../../plugins/email", "webhook": "../../plugins/webhook", "flaky": "./testdata/blocks/flaky",
		"template": "../../plugins/template", "signature": "../../plugins/signature"}
	for name, pkg := range blocks {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build block %s: %v\n", name, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	pluginDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	testToken     = "console-test-token"
	readOnlyToken = "console-readonly-token"
)

// env is a paperflow host as `serve` runs it, in a temp dir: embedded
// NATS, the engine with the outbox, delivery with the workflow's sink and
// the subscriptions, the API and the console on 127.0.0.1.
type env struct {
	t        testing.TB
	bus      *bus.Bus
	engine   *engine.Engine
	outbox   mail.Outbox
	url      string
	wf       *workflow.Workflow
	dir      string // the workflow's directory
	deployed *deploy.Store
	marker   string // the flaky block fails fail=yes items until this exists
	receiver *receiver
	subs     *delivery.SubscriptionStore
	loaded   *console.StaticWorkflows
	log      *slog.Logger
	ctx      context.Context

	mu     sync.Mutex
	routed map[pluginhost.Instance]*pluginhost.Block // blocks with routes, as serve runs them
}

// receiver is a webhook endpoint that fails until told to accept.
type receiver struct {
	accept atomic.Bool
	got    chan string // bodies accepted
	url    string
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{got: make(chan string, 1000)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if !r.accept.Load() {
			http.Error(w, "receiver down for maintenance", http.StatusInternalServerError)
			return
		}
		r.got <- string(body)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

const workflowYAML = `name: console-test
source:
  uses: csv
  with:
    path: items.csv
blocks:
  - id: check
    uses: flaky
    with:
      marker: %q
  - id: mail
    uses: email
    with:
      from: "Console Test <console@example.com>"
      to: "{{email}}"
      subject: "Hello {{name}}"
      text: "Dear {{name}}, your item is ready."
      html: "<h1 style=\"color:#1f5fbf\">Dear {{name}}</h1><p>Your item is ready.</p><script>parent.document.title='scripted'</script>"
  - id: notify
    uses: webhook
    with:
      url: %q
      events: [EMAILS_CREATED]
      allow_private: true
      retry: ["20ms"]
      condition: {all: ['.metadata.item_id == "1"']}
`

// hostile is an item value that must show as text everywhere.
const hostile = `<img src=x onerror=alert(1)>`

func newEnv(t testing.TB) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("runs block binaries through the engine")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	data := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	b, err := bus.Open(ctx, bus.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, bus: b, outbox: mail.Outbox{Dir: filepath.Join(data, "outbox")}, url: "http://" + ln.Addr().String(), log: log, ctx: ctx}
	e.engine, err = engine.New(ctx, engine.Options{
		Bus: b, Plugins: pluginhost.Registry{Dir: pluginDir}, PublicURL: e.url, Mail: e.outbox, Log: log, RetryDelay: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.receiver = newReceiver(t)
	e.dir = t.TempDir()
	e.marker = filepath.Join(e.dir, "fixed")
	file := filepath.Join(e.dir, "console-test.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(workflowYAML, e.marker, e.receiver.url+"/hook")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "items.csv"), []byte("name,email,fail\nAda,ada@example.com,no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wf, problems := workflow.Load(file, e.engine.Catalog())
	if len(problems) > 0 {
		t.Fatalf("load workflow: %v", problems)
	}
	e.wf = wf
	e.deployed = deploy.New(e.engine.Store(), deploy.Options{CacheDir: filepath.Join(data, "workflows"), Catalog: e.engine.Catalog(), Log: log})
	if _, err := e.deployed.DeployFile(ctx, wf, "test"); err != nil {
		t.Fatal(err)
	}

	dispatcher, err := delivery.Start(ctx, delivery.Options{JS: b.JS, Replicas: b.Replicas, Log: log, StopGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dispatcher.Stop)
	for _, def := range wf.Blocks {
		if def.Kind != workflow.KindSink {
			continue
		}
		blk, err := pluginhost.Start(ctx, pluginhost.Spec{
			Instance: pluginhost.Instance{Workflow: wf.Name, BlockID: def.ID}, Uses: def.Uses,
			Path: filepath.Join(pluginDir, def.Uses), Config: def.ConfigJSON(), WorkflowDir: wf.Dir, PublicURL: e.url,
		}, e.engine, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(blk.Close)
		target, err := delivery.BlockTarget(wf, &def, blk)
		if err != nil {
			t.Fatal(err)
		}
		if err := dispatcher.Add(ctx, target); err != nil {
			t.Fatal(err)
		}
	}
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	subs, err := delivery.OpenSubscriptions(ctx, b.JS, b.Replicas, allow)
	if err != nil {
		t.Fatal(err)
	}
	e.subs = subs
	go func() {
		_ = delivery.ServeSubscriptions(ctx, dispatcher, subs, delivery.SubscriptionSending{Allow: allow})
	}()

	loaded := &console.StaticWorkflows{}
	loaded.Add(wf)
	e.loaded = loaded
	starter := &starter{e: e}
	opts, err := console.FromHost(ctx, console.Host{
		Bus: b, Engine: e.engine, Starter: starter, Uploads: starter, Subscriptions: subs, Loaded: loaded, Deployed: e.deployed,
		Outbox: &e.outbox, Token: testToken, ReadOnlyToken: readOnlyToken, PublicURL: e.url, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	opts.Blocks = console.ServedBlocks(e.block)
	api := &httpapi.Server{Documents: e.engine.Documents(), Log: log}
	srv := &http.Server{Handler: console.Beside(api.Handler(), console.New(opts)), ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return e
}

// block is a running block with routes, as serve's set of served
// workflows finds one.
func (e *env) block(workflow, id string) *pluginhost.Block {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.routed[pluginhost.Instance{Workflow: workflow, BlockID: id}]
}

// signYAML is a letter per person, signed by the person and then a lead.
const signYAML = `name: console-sign
source:
  uses: csv
  with:
    path: sign.csv
blocks:
  - id: letter
    uses: template
    with:
      template: letter.md
      name: "Letter for {{name}}"
  - id: sign
    uses: signature
    with:
      documents: [letter]
      recipients:
        - {email: "{{email}}", name: "{{name}}", order: 1}
        - {email: lead@example.com, name: Lead, order: 2}
      expires_in: 30d
`

// serveSignatures adds the signature workflow to the host as serve does
// (its signature block running, for its routes) and runs it on two
// people, the first named with the hostile value; it returns the run id.
func (e *env) serveSignatures(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"console-sign.yaml": signYAML,
		"letter.md":         "# Letter\n\nDear {{name}}, please sign.\n",
		"sign.csv":          "name,email\n\"" + hostile + "\",ada@example.com\nBob,bob@example.com\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wf, problems := workflow.Load(filepath.Join(dir, "console-sign.yaml"), e.engine.Catalog())
	if len(problems) > 0 {
		t.Fatalf("load the signature workflow: %v", problems)
	}
	for _, def := range wf.Blocks {
		if def.Uses != "signature" {
			continue
		}
		in := pluginhost.Instance{Workflow: wf.Name, BlockID: def.ID}
		blk, err := pluginhost.Start(e.ctx, pluginhost.Spec{
			Instance: in, Uses: def.Uses, Path: filepath.Join(pluginDir, def.Uses), Config: def.ConfigJSON(), WorkflowDir: wf.Dir, PublicURL: e.url,
		}, e.engine, e.log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(blk.Close)
		e.mu.Lock()
		if e.routed == nil {
			e.routed = map[pluginhost.Instance]*pluginhost.Block{}
		}
		e.routed[in] = blk
		e.mu.Unlock()
	}
	e.loaded.Add(wf)
	sum, err := e.engine.Run(e.ctx, wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 0 {
		t.Fatalf("%d items of the signature workflow failed: %v", sum.Failed, sum.Errors)
	}
	return sum.RunID
}

// starter starts runs as serve does: load the file (or store an upload
// as a version of the deployed workflow and load that), run it in the
// background, answer with the run id.
type starter struct{ e *env }

func (s *starter) StartRun(_ context.Context, file, resume string) (string, error) {
	wf, problems := workflow.Load(file, s.e.engine.Catalog())
	if len(problems) > 0 {
		return "", problems
	}
	return s.run(wf, resume, "")
}

func (s *starter) StartUpload(ctx context.Context, name, fileName string, data []byte) (string, error) {
	v, err := s.e.deployed.DeployUpload(ctx, name, "", fileName, data, "console-test")
	if err != nil {
		return "", err
	}
	wf, err := s.e.deployed.LoadVersion(ctx, v)
	if err != nil {
		return "", err
	}
	return s.run(wf, "", v.ID)
}

func (s *starter) run(wf *workflow.Workflow, resume, version string) (string, error) {
	return startRun(s.e.ctx, s.e.engine, wf, resume, version)
}

// startRun starts (or resumes) a run of wf on e in the background, as
// serve does, and returns its id once it has started, or why it could not.
func startRun(ctx context.Context, e *engine.Engine, wf *workflow.Workflow, resume, version string) (string, error) {
	started := make(chan string, 1)
	failed := make(chan error, 1)
	go func() {
		_, err := e.Run(ctx, wf, engine.RunOptions{RunID: resume, Version: version, OnStart: func(id string) { started <- id }})
		if err != nil {
			failed <- err
		}
	}()
	select {
	case id := <-started:
		return id, nil
	case err := <-failed:
		return "", err
	}
}

// itemsCSV is n items; item 2 carries the hostile value, item 3 fails
// (and carries it in its error) until the marker exists.
func itemsCSV(n int) string {
	var sb strings.Builder
	sb.WriteString("name,email,fail\n")
	for i := 1; i <= n; i++ {
		switch i {
		case 2:
			fmt.Fprintf(&sb, "\"%s\",two@example.com,no\n", hostile)
		case 3:
			fmt.Fprintf(&sb, "\"%s\",three@example.com,yes\n", hostile)
		default:
			fmt.Fprintf(&sb, "Person %d,p%d@example.com,no\n", i, i)
		}
	}
	return sb.String()
}

// client is an HTTP client with a cookie jar, logged in with token.
func (e *env) client(t testing.TB, token string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := c.PostForm(e.url+"/login", url.Values{"token": {token}, "next": {"/runs"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("log in: %s", resp.Status)
	}
	return c
}
