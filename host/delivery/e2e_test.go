package delivery_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
	"github.com/paperflow/paperflow/plugins/webhook/verify"
)

func TestMain(m *testing.M) { hosttest.Main(m) }

// pluginDir holds the real block binaries, built once per test binary.
func pluginDir(t testing.TB) string {
	return hosttest.PluginDir(t, "csv", "webhook", "testblock")
}

func newEngine(t *testing.T, b *bus.Bus) *engine.Engine {
	t.Helper()
	e, err := engine.New(context.Background(), engine.Options{
		Bus: b, Plugins: pluginhost.Registry{Dir: pluginDir(t)}, PublicURL: "http://127.0.0.1:8080",
		Mail: mail.Outbox{Dir: t.TempDir()}, RetryDelay: 20 * time.Millisecond, Log: logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// startSink starts a workflow's sink block and its dispatcher the way
// `paperflow serve` does: secrets resolved into its with:, the block
// process supervised by pluginhost, the target from the with: conventions.
func startSink(t *testing.T, b *bus.Bus, e *engine.Engine, wf *workflow.Workflow, id string, secrets workflow.Secrets) (*pluginhost.Block, *delivery.Dispatcher) {
	t.Helper()
	ctx := context.Background()
	def := wf.Block(id)
	desc, err := e.Catalog().Describe(ctx, def.Uses)
	if err != nil {
		t.Fatal(err)
	}
	with, err := delivery.ResolveSecrets(def.ConfigJSON(), secrets.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := pluginhost.Start(ctx, pluginhost.Spec{
		Instance: pluginhost.Instance{Workflow: wf.Name, BlockID: def.ID}, Uses: def.Uses, Path: desc.Path,
		Config: with, WorkflowDir: wf.Dir, PublicURL: "http://127.0.0.1:8080",
	}, e, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(blk.Close)
	tgt, err := delivery.BlockTarget(wf, def, blk)
	if err != nil {
		t.Fatal(err)
	}
	o := options(t, b)
	o.Redact = secrets.Redactor().Replace
	return blk, start(t, o, tgt)
}

func loadWorkflow(t *testing.T, e *engine.Engine, yaml, csv string, secrets workflow.Secrets) *workflow.Workflow {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "items.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "wf.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	wf, problems := workflow.Load(file, e.Catalog(), workflow.WithSecrets(secrets))
	if len(problems) > 0 {
		t.Fatalf("load workflow: %v", problems)
	}
	return wf
}

// TestEndToEnd runs a workflow whose step emits DOCUMENTS_CREATED for every
// item, with the webhook block as its sink: the receiver gets every event
// exactly once, with signatures that the verify package, an independent
// Stripe-style check and the Standard Webhooks library all accept.
func TestEndToEnd(t *testing.T) {
	t.Setenv("PAPERFLOW_WEBHOOK_ALLOW", "127.0.0.1/32") // the host's allow-list reaches the block process
	b := newBus(t)
	e := newEngine(t, b)
	secret := verify.GenerateSecret()
	rcv := newReceiver(t, secret, ok)
	secrets := workflow.Secrets{"HOOK_URL": rcv.URL + "/paperflow", "HOOK_SECRET": secret}
	wf := loadWorkflow(t, e, `name: e2e
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: docs, uses: testblock, with: {emit: true}}
  - id: notify
    uses: webhook
    with:
      url: "{{ .secrets.HOOK_URL }}"
      secret: "{{ .secrets.HOOK_SECRET }}"
      headers: {X-Workflow: "{{metadata.workflow}}"}
      retry: [10ms, 10ms]
`, "Name\n"+strings.Repeat("Ada\nGrace\nLinus\nKen\n", 25), secrets)
	startSink(t, b, e, wf, "notify", secrets)

	sum, err := e.Run(context.Background(), wf, engine.RunOptions{Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	n := int(sum.Events["DOCUMENTS_CREATED"])
	if sum.Succeeded != 100 || n != 100 {
		t.Fatalf("run: %+v", sum)
	}
	rcv.await(t, "100 events", 20*time.Second, func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return len(rcv.delivered) == n
	})
	awaitAttempts(t, b, "e2e/notify", "100 attempts", func(as []delivery.Attempt) bool { return len(as) >= n })
	time.Sleep(200 * time.Millisecond)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for id, c := range rcv.requests {
		if c != 1 {
			t.Errorf("event %s arrived %d times", id, c)
		}
		var env struct {
			EventID  string `json:"eventId"`
			Metadata struct {
				RunID string `json:"run_id"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(rcv.bodies[id], &env); err != nil || env.EventID != id || env.Metadata.RunID != sum.RunID {
			t.Errorf("body of %s is not its envelope: %s", id, rcv.bodies[id])
		}
	}
}

// TestBlockProcess drives the webhook block process through retries, a 410
// and a crash: what it learnt from the 410 survives in Host KV.
func TestBlockProcess(t *testing.T) {
	t.Setenv("PAPERFLOW_WEBHOOK_ALLOW", "127.0.0.1/32")
	b := newBus(t)
	e := newEngine(t, b)
	var gone atomic.Bool
	rcv := newReceiver(t, "", func(w http.ResponseWriter, id string, n int) bool {
		switch {
		case gone.Load():
			w.WriteHeader(http.StatusGone)
			return false
		case n <= 2:
			w.WriteHeader(http.StatusInternalServerError)
			return false
		}
		return ok(w, id, n)
	})
	wf := loadWorkflow(t, e, `name: proc
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: hook
    uses: webhook
    with: {url: "`+rcv.URL+`", retry: [10ms, 10ms, 10ms]}
`, "Name\nA\n", nil)
	blk, _ := startSink(t, b, e, wf, "hook", nil)

	ids := publish(t, b, "proc", 10)
	rcv.await(t, "delivery after two failures", 10*time.Second, rcv.allDelivered(ids))
	for _, id := range ids {
		if req, del := rcv.counts(id); req != 3 || del != 1 {
			t.Errorf("event %s: %d requests, %d delivered", id, req, del)
		}
	}

	gone.Store(true)
	publish(t, b, "proc", 1)
	awaitAttempts(t, b, "proc/hook", "the 410", func(as []delivery.Attempt) bool {
		return len(as) > 0 && as[len(as)-1].HTTPStatus == 410
	})
	blk.KillProcess() // the next process must know the endpoint is gone
	before := rcv.total()
	later := publish(t, b, "proc", 1)
	as := awaitAttempts(t, b, "proc/hook", "a refusal without a request", func(as []delivery.Attempt) bool {
		return as[len(as)-1].EventID == later[0]
	})
	last := as[len(as)-1]
	if last.Status != "failed" || !last.DeadLettered || !strings.Contains(last.Reason, "endpoint disabled") {
		t.Errorf("after 410 and a restart: %+v", last)
	}
	if rcv.total() != before {
		t.Errorf("the restarted block called a gone endpoint")
	}
	if blk.Restarts() != 1 {
		t.Errorf("restarts %d", blk.Restarts())
	}
}
