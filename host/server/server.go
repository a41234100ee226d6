// Package server is the long-lived paperflow host that `paperflow serve`
// runs: the HTTP API and block routes (signing pages), the sinks of the
// served workflows, their scheduled callbacks, runs handed over on NATS by
// `paperflow run`, and runs of other hosts it joins. It lives outside
// package main so that a test can start a whole host in its own process.
//
// Lifecycle: New checks the configuration, Start brings everything up and
// returns once the host answers, Close takes it down again and returns when
// every run, delivery and block it started has stopped. The caller owns
// the bus and the engine and closes them after Close.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/httpapi"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/websend"
)

// Config is what a host is made of. Bus and Engine are required.
type Config struct {
	// Bus is the NATS connection the host works on.
	Bus *bus.Bus
	// Engine runs the runs the host starts and joins, and serves its
	// blocks the Host service; it must be made on Bus.
	Engine *engine.Engine
	// Files are the workflow files served from Start on: their routes,
	// sinks and scheduled callbacks, and the run API may start them and
	// the workflow files beside them.
	Files []string
	// Workflows, when set, are the workflows deployed in NATS: the host
	// deploys Files at start, serves every deployed workflow and follows
	// deploys, rollbacks and deletes; it serves them under /api/workflows
	// and runs handed over carry a workflow version.
	Workflows *deploy.Store
	// CheckWorkflow, when set, checks a workflow deployed through the API
	// as `paperflow validate` does.
	CheckWorkflow func(ctx context.Context, wf *workflow.Workflow) workflow.Problems
	// Secrets resolve {{ .secrets.NAME }} in workflows and sinks.
	Secrets workflow.Secrets
	// HTTPAddr is where the HTTP server listens; port 0 picks a free one.
	HTTPAddr string
	// PublicURL is the base URL of links blocks build (signing pages).
	PublicURL string
	// APIToken guards /api/; empty refuses every API call.
	APIToken string
	// ConsoleReadOnlyToken logs in to the console to look without acting;
	// empty offers no read-only login.
	ConsoleReadOnlyToken string
	// BlockSettings reach every block the host starts, in Configure; their
	// webhook allow-list also bounds the webhook subscriptions. Nil takes
	// them from the environment (pluginhost.SettingsFromEnv).
	BlockSettings pluginhost.Settings
	// StateFile, when set, holds the host's State while it runs.
	StateFile string
	// NATSURL is the URL the State gives when Bus is not an embedded
	// server that other processes can reach.
	NATSURL string
	// Log receives the host's logs; nil is slog.Default().
	Log *slog.Logger
	// Redact hides secrets in the delivery attempt log.
	Redact func(string) string
}

// ListenError is a Start that could not listen on Config.HTTPAddr.
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string { return fmt.Sprintf("listen on %s: %v", e.Addr, e.Err) }
func (e *ListenError) Unwrap() error { return e.Err }

// Server is one running paperflow host.
type Server struct {
	cfg      Config
	log      *slog.Logger
	settings pluginhost.Settings
	api      *httpapi.Server

	// ctx lives from Start to Close: runs, joins, deliveries and
	// callbacks end with it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	dispatcher *delivery.Dispatcher
	workflows  *workflowSet
	sub        *nats.Subscription
	http       *http.Server
	ln         net.Listener

	wroteState bool

	mu      sync.Mutex
	skipped map[string]bool // runs whose workflow does not load on this host
	started bool
	closed  bool
}

// New checks cfg and prepares a host; nothing runs until Start.
func New(cfg Config) (*Server, error) {
	if cfg.Bus == nil || cfg.Engine == nil {
		return nil, errors.New("server: Config.Bus and Config.Engine are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	settings := cfg.BlockSettings
	if settings == nil {
		settings = pluginhost.SettingsFromEnv()
	}
	if _, err := websend.ParseAllow(settings[sdk.SettingWebhookAllow]); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, log: cfg.Log, settings: settings, skipped: map[string]bool{}}, nil
}

// Start serves the workflow files, starts the sinks, the hand-off of runs,
// scheduled callbacks, joining runs and the HTTP server, and writes the
// State file. ctx bounds the host's life as Close does; when Start fails,
// what it started is stopped again.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("server: started twice")
	}
	s.started = true
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.mu.Unlock()
	if err := s.start(); err != nil {
		s.Close()
		return err
	}
	return nil
}

func (s *Server) start() error {
	ctx, b := s.ctx, s.cfg.Bus
	allow, _ := websend.ParseAllow(s.settings[sdk.SettingWebhookAllow]) // checked in New
	d, err := delivery.Start(ctx, delivery.Options{JS: b.JS, Replicas: b.Replicas, Log: s.log, Redact: s.cfg.Redact})
	if err != nil {
		return err
	}
	s.dispatcher = d
	subs, err := delivery.OpenSubscriptions(ctx, b.JS, b.Replicas, allow)
	if err != nil {
		return err
	}
	s.api = &httpapi.Server{Documents: s.cfg.Engine.Documents(), Runs: s, Workflows: &httpapi.Workflows{}, Token: s.cfg.APIToken, Log: s.log,
		Subscriptions: &httpapi.Subscriptions{Store: subs, JS: b.JS, Token: s.cfg.APIToken, Log: s.log}}
	s.api.SetReady(func() error {
		if !b.NC.IsConnected() {
			return errors.New("NATS disconnected")
		}
		return nil
	})
	s.workflows = &workflowSet{
		engine: s.cfg.Engine, api: s.api, dispatcher: d, secrets: s.cfg.Secrets, publicURL: s.cfg.PublicURL,
		settings: s.settings, log: s.log, served: map[string]*servedWorkflow{},
	}
	triggers, items, err := newHostTriggers(ctx, b, s.cfg.Engine, s.cfg.APIToken, s.cfg.Secrets, s.log)
	if err != nil {
		return err
	}
	s.api.Items, s.workflows.triggers = items, triggers
	if s.cfg.Workflows != nil {
		s.api.Deployments = &httpapi.Deployments{Store: s.cfg.Workflows, Load: s.loadOptions(), Check: s.cfg.CheckWorkflow}
		s.api.Deployed = s
		if err := s.serveDeployed(ctx); err != nil {
			return err
		}
	} else {
		for _, f := range s.cfg.Files {
			if err := s.serveFile(ctx, f); err != nil {
				return err
			}
		}
	}
	s.goLong(func(ctx context.Context) {
		if err := delivery.ServeSubscriptions(ctx, d, subs, delivery.SubscriptionSending{Allow: allow}); err != nil {
			s.log.Error("webhook subscriptions stopped", "err", err)
		}
	})
	s.sub, err = b.NC.QueueSubscribe(StartRunSubject, "paperflow-hosts", s.onStartRun)
	if err != nil {
		return fmt.Errorf("listen for runs: %w", err)
	}
	s.goLong(s.runSchedules)
	s.goLong(s.cfg.Engine.CompactLoop)
	s.goLong(s.joinRuns)

	s.ln, err = net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return &ListenError{Addr: s.cfg.HTTPAddr, Err: err}
	}
	s.http = s.api.HTTPServer()
	// The web console (host/console) at /, beside the API.
	if s.http.Handler, err = s.consoleHandler(ctx, subs, s.http.Handler); err != nil {
		return err
	}
	// The public form pages (host/trigger/form) at /forms/.
	if s.http.Handler, err = s.formsHandler(ctx, s.http.Handler); err != nil {
		return err
	}
	ln := s.ln
	s.goLong(func(context.Context) { _ = s.http.Serve(ln) })
	return s.writeState()
}

// serveFile loads a workflow file and adds it to the served set; the run
// API may then start it and the workflow files beside it.
func (s *Server) serveFile(ctx context.Context, file string) error {
	wf, problems := s.loadWorkflow(file)
	if len(problems) > 0 {
		return fmt.Errorf("%s", problems.Error())
	}
	if err := s.api.Workflows.Add(wf.Name, file); err != nil {
		return err
	}
	return s.workflows.add(ctx, wf)
}

// goLong runs f until the host closes; Close waits for it.
func (s *Server) goLong(f func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.ctx)
	}()
}

func (s *Server) writeState() error {
	if s.cfg.StateFile == "" {
		return nil
	}
	url := s.cfg.Bus.ClientURL
	if url == "" {
		url = s.cfg.NATSURL
	}
	raw, _ := json.Marshal(State{NATSURL: url, HTTP: s.Addr(), PID: os.Getpid()})
	if err := os.WriteFile(s.cfg.StateFile, raw, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", s.cfg.StateFile, err)
	}
	s.wroteState = true
	return nil
}

// Addr is the address the HTTP server listens on, "" before Start.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Workflows lists the names of the workflows the host serves.
func (s *Server) Workflows() []string {
	if s.workflows == nil {
		return nil
	}
	return s.workflows.names()
}

// Close stops the host: runs and joins are cancelled, the HTTP server
// drains (up to 10 s), the State file goes, no more runs are taken,
// deliveries in flight finish, the blocks stop. It returns when all of it
// has, with the HTTP server's shutdown error if any. Closing twice does
// nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.started || s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	var err error
	if s.http != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = s.http.Shutdown(sctx)
		cancel()
	}
	if s.wroteState {
		_ = os.Remove(s.cfg.StateFile)
	}
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
	}
	if s.dispatcher != nil {
		s.dispatcher.Stop() // deliveries in flight finish before the blocks close
	}
	if s.workflows != nil {
		s.workflows.close()
	}
	s.wg.Wait()
	return err
}

var _ httpapi.RunStarter = (*Server)(nil)
