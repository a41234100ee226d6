package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/httpapi"
	"github.com/paperflow/paperflow/host/metrics"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/webhook/send"
)

// startRunSubject is where hosts take runs handed to them by `paperflow run`.
const startRunSubject = "paperflow.api.runs.start"

// serveState tells other paperflow commands on this data directory how to
// reach a running host.
type serveState struct {
	NATSURL string `json:"nats_url"`
	HTTP    string `json:"http"`
	PID     int    `json:"pid"`
}

func serveStatePath(dataDir string) string { return filepath.Join(dataDir, "serve.json") }

func readServeState(dataDir string) (serveState, bool) {
	raw, err := os.ReadFile(serveStatePath(dataDir))
	if err != nil {
		return serveState{}, false
	}
	var st serveState
	if json.Unmarshal(raw, &st) != nil || st.NATSURL == "" {
		return serveState{}, false
	}
	if p, err := os.FindProcess(st.PID); err != nil || p.Signal(syscall.Signal(0)) != nil {
		return serveState{}, false
	}
	return st, true
}

type startRunRequest struct {
	File   string `json:"file"`
	Resume string `json:"resume,omitempty"`
}

type startRunReply struct {
	RunID string `json:"run_id,omitempty"`
	Error string `json:"error,omitempty"`
}

func newServeCmd(cfg *config) *cobra.Command {
	var natsListen string
	cmd := &cobra.Command{
		Use:   "serve [WORKFLOW...]",
		Short: "Run the long-lived host: HTTP API, block pages, scheduled callbacks, runs handed over by `paperflow run`",
		Long: `Serve is the long-running host. It serves documents at signed URLs, the
pages of blocks (signing pages) under /blocks/<workflow>/<block>/ for the
workflow files given, their scheduled callbacks, /healthz and /readyz, and
the run API (POST /api/runs with Authorization: Bearer <api token>), which
starts the workflow files given and the workflow files under their
directories, and nothing else.

'paperflow run' on the same data directory (or the same --nats) hands its
run to this host instead of running it itself.`,
		Example: `  paperflow serve workflows/hello.yaml
  PAPERFLOW_API_TOKEN=secret paperflow serve --http 0.0.0.0:8080 --public-url https://docs.example.com`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return serve(cmd.Context(), cfg, natsListen, args)
		},
	}
	cmd.Flags().StringVar(&natsListen, "nats-listen", env("PAPERFLOW_NATS_LISTEN", "127.0.0.1:0"), "where the embedded NATS accepts other processes (port 0 picks a free one) [PAPERFLOW_NATS_LISTEN]")
	return cmd
}

type host struct {
	cfg     *config
	log     *slog.Logger
	engine  *engine.Engine
	secrets workflow.Secrets
	ctx     context.Context
	// delivery feeds the sinks of the loaded workflows and the webhook
	// subscriptions.
	delivery *delivery.Dispatcher

	mu     sync.Mutex
	blocks map[string]*pluginhost.Block // "<workflow>/<block>" with routes or callbacks
	// skipped are runs whose workflow file does not load on this host.
	skipped map[string]bool
}

func serve(ctx context.Context, cfg *config, natsListen string, files []string) error {
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()
	log := cfg.logger(os.Stderr)
	metrics.SetBuildInfo(version)
	secrets, err := workflow.LoadSecrets(cfg.secretFile, os.Environ())
	if err != nil {
		return err
	}
	listen := ""
	if cfg.natsURL == "" {
		listen = natsListen
	}
	b, e, err := cfg.openEngine(ctx, log, listen)
	if err != nil {
		return err
	}
	defer b.Close()
	allow, err := send.ParseAllow(os.Getenv(send.AllowEnv))
	if err != nil {
		return err
	}
	dispatcher, err := delivery.Start(ctx, delivery.Options{JS: b.JS, Replicas: b.Replicas, Log: log, Redact: cfg.logSecrets().Redactor().Replace})
	if err != nil {
		return err
	}
	subs, err := delivery.OpenSubscriptions(ctx, b.JS, b.Replicas, allow)
	if err != nil {
		return err
	}
	h := &host{cfg: cfg, log: log, engine: e, secrets: secrets, ctx: ctx, blocks: map[string]*pluginhost.Block{}, skipped: map[string]bool{}, delivery: dispatcher}
	api := &httpapi.Server{Documents: e.Documents(), Runs: h, Workflows: &httpapi.Workflows{}, Token: cfg.apiToken, Log: log,
		Subscriptions: &httpapi.Subscriptions{Store: subs, JS: b.JS, Token: cfg.apiToken, Log: log}}
	api.SetReady(func() error {
		if !b.NC.IsConnected() {
			return errors.New("NATS disconnected")
		}
		return nil
	})
	for _, f := range files {
		if err := h.load(ctx, api, f); err != nil {
			return err
		}
	}
	defer h.closeBlocks()
	defer dispatcher.Stop() // runs first: deliveries in flight finish before the blocks close
	go func() {
		if err := delivery.ServeSubscriptions(ctx, dispatcher, subs, delivery.SubscriptionSending{Allow: allow}); err != nil {
			log.Error("webhook subscriptions stopped", "err", err)
		}
	}()

	sub, err := b.NC.QueueSubscribe(startRunSubject, "paperflow-hosts", h.onStartRun)
	if err != nil {
		return fmt.Errorf("listen for runs: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	go h.runSchedules(ctx)
	go h.joinRuns(ctx)

	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set --http or PAPERFLOW_HTTP_ADDR)", cfg.httpAddr, err)
	}
	srv := api.HTTPServer()
	go func() { _ = srv.Serve(ln) }()

	natsURL := b.ClientURL
	if natsURL == "" {
		natsURL = cfg.natsURL
	}
	st := serveState{NATSURL: natsURL, HTTP: ln.Addr().String(), PID: os.Getpid()}
	raw, _ := json.Marshal(st)
	if err := os.WriteFile(serveStatePath(cfg.dataDir), raw, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", serveStatePath(cfg.dataDir), err)
	}
	defer os.Remove(serveStatePath(cfg.dataDir))
	fmt.Fprintf(os.Stderr, "paperflow %s serving on http://%s (public URL %s), NATS %s\n", version, ln.Addr(), cfg.public(), bus.RedactURL(natsURL))
	if cfg.apiToken == "" {
		fmt.Fprintln(os.Stderr, "note: no --api-token set: the /api/ endpoints refuse every call")
	}
	<-ctx.Done()
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	return srv.Shutdown(sctx)
}

// load starts the blocks of a workflow file that serve pages or take
// scheduled callbacks, and mounts their routes.
func (h *host) load(ctx context.Context, api *httpapi.Server, file string) error {
	wf, problems := workflow.Load(file, catalogFor(h.cfg, h.log), workflow.WithSecrets(h.secrets))
	if len(problems) > 0 {
		return fmt.Errorf("%s", problems.Error())
	}
	if err := api.Workflows.Add(wf.Name, file); err != nil {
		return err
	}
	metrics.KnownWorkflow(wf.Name)
	for _, def := range append([]workflow.Block{wf.Source}, wf.Blocks...) {
		desc, err := h.engine.Catalog().Describe(ctx, def.Uses)
		if err != nil {
			return err
		}
		if desc.Kind == sdk.KindSink {
			if err := h.startSink(ctx, wf, def, desc); err != nil {
				return err
			}
			continue
		}
		if !desc.HasRoutes {
			continue
		}
		b, err := pluginhost.Start(ctx, pluginhost.Spec{
			Instance: pluginhost.Instance{Workflow: wf.Name, BlockID: def.ID}, Uses: def.Uses, Path: desc.Path,
			Config: def.ConfigJSON(), WorkflowDir: wf.Dir, PublicURL: h.cfg.public(),
		}, h.engine, h.log)
		if err != nil {
			return err
		}
		h.mu.Lock()
		h.blocks[wf.Name+"/"+def.ID] = b
		h.mu.Unlock()
		api.Mount(wf.Name, def.ID, b)
	}
	return nil
}

// startSink starts a sink block with its secrets resolved (the host, not
// the block, knows them) and has the dispatcher feed it the workflow's events.
func (h *host) startSink(ctx context.Context, wf *workflow.Workflow, def workflow.Block, desc pluginhost.Description) error {
	with, err := delivery.ResolveSecrets(def.ConfigJSON(), h.secrets.Lookup)
	if err != nil {
		return fmt.Errorf("%s:%d: block %s: %w", wf.File, def.Line, def.ID, err)
	}
	b, err := pluginhost.Start(ctx, pluginhost.Spec{
		Instance: pluginhost.Instance{Workflow: wf.Name, BlockID: def.ID}, Uses: def.Uses, Path: desc.Path,
		Config: with, WorkflowDir: wf.Dir, PublicURL: h.cfg.public(),
	}, h.engine, h.log)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.blocks[wf.Name+"/"+def.ID] = b
	h.mu.Unlock()
	t, err := delivery.BlockTarget(wf, &def, b)
	if err != nil {
		return err
	}
	metrics.KnownTarget(t.Ref())
	return h.delivery.Add(ctx, t)
}

func (h *host) closeBlocks() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.blocks {
		b.Close()
	}
}

func (h *host) onStartRun(m *nats.Msg) {
	var req startRunRequest
	reply := startRunReply{}
	if err := json.Unmarshal(m.Data, &req); err != nil {
		reply.Error = "bad request: " + err.Error()
	} else if id, err := h.StartRun(h.ctx, req.File, req.Resume); err != nil {
		reply.Error = err.Error()
	} else {
		reply.RunID = id
	}
	raw, _ := json.Marshal(reply)
	_ = m.Respond(raw)
}

// StartRun validates a workflow file and runs it in the background. A
// file that does not load is answered with its workflow.Problems, which the
// HTTP API reduces to positions. It opens any path it is given: the HTTP
// API checks paths against httpapi.Workflows first, and `paperflow run`
// hands runs over through NATS, whose clients already hold credentials to
// everything the host keeps.
func (h *host) StartRun(_ context.Context, file, resume string) (string, error) {
	wf, problems := workflow.Load(file, catalogFor(h.cfg, h.log), workflow.WithSecrets(h.secrets))
	if len(problems) > 0 {
		return "", problems
	}
	started := make(chan string, 1)
	failed := make(chan error, 1)
	go func() {
		sum, err := h.engine.Run(h.ctx, wf, engine.RunOptions{
			RunID: resume, Secrets: h.secrets,
			OnStart: func(id string) { started <- id },
		})
		if err != nil {
			h.log.Error("run failed", "workflow", wf.Name, "err", err)
			failed <- err
			return
		}
		h.log.Info("run finished", "run", sum.RunID, "workflow", wf.Name, "items", sum.Items, "failed", sum.Failed)
	}()
	select {
	case id := <-started:
		return id, nil
	case err := <-failed:
		return "", err
	}
}

// joinRuns has this host work on every running run started by another
// host on the same NATS (or left behind by a host that died), so several
// hosts share a run's items. A run whose workflow file this host cannot
// load is left to the others.
func (h *host) joinRuns(ctx context.Context) {
	for ctx.Err() == nil {
		// A watch whose NATS node died can go quiet without closing: it is
		// made anew every minute (joining is idempotent).
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		w, err := h.engine.WatchRuns(wctx)
		if err != nil {
			h.log.Warn("watch runs; trying again", "err", err)
		} else {
			for rec := range w {
				if rec.Status == "running" {
					h.join(ctx, rec)
				}
			}
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (h *host) join(ctx context.Context, rec engine.RunInfo) {
	if h.engine.Working(rec.ID) {
		return
	}
	h.mu.Lock()
	if h.skipped[rec.ID] {
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	wf, problems := workflow.Load(rec.File, catalogFor(h.cfg, h.log), workflow.WithSecrets(h.secrets))
	if len(problems) > 0 || wf.Name != rec.Workflow {
		h.log.Warn("cannot join run: its workflow file does not load here; other hosts will run it", "run", rec.ID, "file", rec.File, "problems", len(problems))
		h.mu.Lock()
		h.skipped[rec.ID] = true
		h.mu.Unlock()
		return
	}
	go func() {
		sum, err := h.engine.Join(ctx, wf, rec.ID, engine.RunOptions{Secrets: h.secrets})
		switch {
		case errors.Is(err, engine.ErrJoined) || ctx.Err() != nil:
		case err != nil:
			// Not tried again: the other hosts carry the run.
			h.log.Warn("left the run; this host will not join it again", "run", rec.ID, "workflow", wf.Name, "err", err)
			h.mu.Lock()
			h.skipped[rec.ID] = true
			h.mu.Unlock()
		default:
			h.log.Info("joined run finished", "run", sum.RunID, "workflow", wf.Name, "items", sum.Items, "failed", sum.Failed)
		}
	}()
}

// ListRuns lists the runs kept in NATS.
func (h *host) ListRuns(ctx context.Context) (any, error) { return h.engine.Runs(ctx) }

// runSchedules delivers due scheduled callbacks to the loaded blocks.
func (h *host) runSchedules(ctx context.Context) {
	if err := h.engine.ServeSchedules(ctx, func(workflow, block string) *pluginhost.Block {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.blocks[workflow+"/"+block]
	}); err != nil && ctx.Err() == nil {
		h.log.Error("scheduled callbacks stopped", "err", err)
	}
}
