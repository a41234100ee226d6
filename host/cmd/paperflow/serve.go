package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/metrics"
	"github.com/paperflow/paperflow/host/server"
	"github.com/paperflow/paperflow/host/workflow"
)

// The hand-off of runs from `paperflow run` to a serving host, as the
// other commands of this package name it.
const startRunSubject = server.StartRunSubject

type (
	startRunRequest = server.StartRunRequest
	startRunReply   = server.StartRunReply
)

// readServeState returns how to reach the host serving on dataDir, when
// one is running.
func readServeState(dataDir string) (server.State, bool) {
	return server.ReadState(server.StatePath(dataDir))
}

func newServeCmd(cfg *config) *cobra.Command {
	var natsListen, readOnlyToken, pprofListen, memLimit string
	cmd := &cobra.Command{
		Use:   "serve [WORKFLOW...]",
		Short: "Run the long-lived host: HTTP API, block pages, scheduled callbacks, runs handed over by `paperflow run`",
		Long: `Serve is the long-running host. It deploys the workflow files given (see
'paperflow deploy') and serves every workflow deployed on its NATS, following
deploys, rollbacks and deletes live: the pages of blocks (signing pages) under
/blocks/<workflow>/<block>/, sinks, scheduled callbacks and triggers (the items
API POST /api/workflows/<name>/items, forms, cron schedules). It also serves
documents at signed URLs, the web console at /, /healthz, /readyz, /metrics,
the workflows API and the run API (Authorization: Bearer <api token>).

'paperflow run' on the same data directory (or the same --nats) hands its
run to this host instead of running it itself.`,
		Example: `  paperflow serve workflows/hello.yaml
  PAPERFLOW_API_TOKEN=secret paperflow serve --http 0.0.0.0:8080 --public-url https://docs.example.com`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyMemoryLimit(cmd.Context(), memLimit, cfg.logger(os.Stderr)); err != nil {
				return err
			}
			stopProfiles, err := server.ServeProfiles(pprofListen, cfg.logger(os.Stderr))
			if err != nil {
				return err
			}
			defer stopProfiles()
			return serve(cmd.Context(), cfg, natsListen, readOnlyToken, args)
		},
	}
	cmd.Flags().StringVar(&readOnlyToken, "console-readonly-token", env("PAPERFLOW_CONSOLE_READONLY_TOKEN", ""), "token that logs in to the console to look without acting [PAPERFLOW_CONSOLE_READONLY_TOKEN]")
	hideDefaults(cmd.Flags(), "console-readonly-token")
	cmd.Flags().StringVar(&natsListen, "nats-listen", env("PAPERFLOW_NATS_LISTEN", "127.0.0.1:0"), "where the embedded NATS accepts other processes (port 0 picks a free one) [PAPERFLOW_NATS_LISTEN]")
	cmd.Flags().StringVar(&pprofListen, "pprof-listen", env("PAPERFLOW_PPROF_LISTEN", ""), "serve Go's profiles (/debug/pprof/) on this loopback address; off when empty [PAPERFLOW_PPROF_LISTEN]")
	_ = cmd.Flags().MarkHidden("pprof-listen")
	memoryLimitFlag(cmd.Flags(), &memLimit)
	return cmd
}

// memoryLimitFlag is --memory-limit of the commands that run a host.
func memoryLimitFlag(f *pflag.FlagSet, dst *string) {
	f.StringVar(dst, "memory-limit", env("PAPERFLOW_MEMORY_LIMIT", server.MemoryLimit{Bytes: server.DefaultMemoryLimit}.String()),
		"soft memory limit of the Go runtime (as GOMEMLIMIT: 512MiB, 2GiB; off for none); it gives way while the live heap is over 3/4 of it; GOMEMLIMIT, when set, takes its place [PAPERFLOW_MEMORY_LIMIT]")
}

// applyMemoryLimit sets --memory-limit for the rest of the process.
func applyMemoryLimit(ctx context.Context, flag string, log *slog.Logger) error {
	l, err := server.ParseMemoryLimit(flag)
	if err != nil {
		return fmt.Errorf("--memory-limit: %w", err)
	}
	l.Apply(ctx, log)
	return nil
}

// serve runs a host (package server) until SIGINT or SIGTERM.
func serve(ctx context.Context, cfg *config, natsListen, readOnlyToken string, files []string) error {
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
	srv, err := server.New(server.Config{
		Bus: b, Engine: e, Files: files, Secrets: secrets,
		Workflows: cfg.deployStore(e.Store(), log), CheckWorkflow: deployCheck(cfg, log, secrets),
		HTTPAddr: cfg.httpAddr, PublicURL: cfg.public(), APIToken: cfg.apiToken, ConsoleReadOnlyToken: readOnlyToken,
		BlockSettings: cfg.registry().Settings,
		StateFile:     server.StatePath(cfg.dataDir), NATSURL: cfg.natsURL,
		Log: log, Redact: cfg.logSecrets().Redactor().Replace,
	})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		if le := (*server.ListenError)(nil); errors.As(err, &le) {
			return fmt.Errorf("%w (set --http or PAPERFLOW_HTTP_ADDR)", err)
		}
		return err
	}
	natsURL := b.ClientURL
	if natsURL == "" {
		natsURL = cfg.natsURL
	}
	fmt.Fprintf(os.Stderr, "paperflow %s serving on http://%s (public URL %s), NATS %s\n", version, srv.Addr(), cfg.public(), bus.RedactURL(natsURL))
	if cfg.apiToken == "" {
		fmt.Fprintln(os.Stderr, "note: no --api-token set: the /api/ endpoints refuse every call")
	}
	<-ctx.Done()
	return srv.Close()
}
