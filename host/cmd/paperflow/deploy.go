package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
)

func newDeployCmd(cfg *config) *cobra.Command {
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "deploy FILE...",
		Short: "Store workflow files and the files they reference in NATS, so every host serves and runs them",
		Long: `Deploy checks each workflow file as validate does (every problem as
file:line:col; nothing is deployed when any file has one), then stores it
with every file it references (the source's data file, templates and the
images a Markdown template shows) in NATS as an immutable version. The
version id is the hash of the files: deploying the same content again
changes nothing and says so.

Every serve on the same NATS serves the new version at once (signing pages,
sinks, scheduled callbacks); runs already going keep the version they
started on. 'paperflow workflows' lists, shows, rolls back and deletes
deployed workflows.`,
		Example: `  paperflow deploy workflows/signature.yaml
  paperflow deploy workflows/*.yaml --output json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return deployFiles(ctx, cfg, args, output, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	outputFlag(cmd.Flags(), &output)
	return cmd
}

func deployFiles(ctx context.Context, cfg *config, files []string, output outputFormat, stdout, stderr io.Writer) error {
	log := cfg.logger(stderr)
	wfs, bad, err := checkFiles(ctx, cfg, log, files, stdout, "deploy", false)
	if err != nil {
		return err
	}
	if bad > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d file(s) have problems; nothing was deployed", bad, len(files))}
	}
	b, store, err := cfg.openDeployStore(ctx, log)
	if err != nil {
		return err
	}
	defer b.Close()
	var results []*deploy.Result
	for i, wf := range wfs {
		res, err := store.DeployFile(ctx, wf, deployer())
		if err != nil {
			return fmt.Errorf("deploy %s: %w", files[i], err)
		}
		results = append(results, res)
		if !output.json() {
			printDeployed(stdout, stderr, res)
		}
	}
	if output.json() {
		return printJSON(stdout, results)
	}
	return nil
}

func printDeployed(stdout, stderr io.Writer, res *deploy.Result) {
	for _, n := range res.Notes {
		fmt.Fprintln(stderr, "note:", n)
	}
	switch {
	case res.Unchanged:
		fmt.Fprintf(stdout, "%s: version %s is already current; nothing changed\n", res.Name, res.Version)
	case res.Previous == "":
		fmt.Fprintf(stdout, "%s: deployed version %s\n", res.Name, res.Version)
	default:
		fmt.Fprintf(stdout, "%s: deployed version %s (was %s)\n", res.Name, res.Version, res.Previous)
	}
}

// openDeployStore connects to NATS as the inspecting commands do (the
// NATS of a serve on this data directory, --nats, or the embedded store)
// and opens the deployed workflows there.
func (c *config) openDeployStore(ctx context.Context, log *slog.Logger) (*bus.Bus, *deploy.Store, error) {
	if err := c.makeDataDir(); err != nil {
		return nil, nil, err
	}
	b, err := c.openBus(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := b.EnsureStore(ctx)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return b, c.deployStore(s, log), nil
}

// deployStore is the deployed workflows in s, loaded on this host from
// <data-dir>/workflows.
func (c *config) deployStore(s *bus.Store, log *slog.Logger) *deploy.Store {
	return deploy.New(s, deploy.Options{CacheDir: filepath.Join(c.dataDir, "workflows"), Catalog: catalogFor(c, log), Log: log})
}

// deployer names who deploys in a workflow's history: user@host.
func deployer() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return name
}

// deployCheck checks a workflow deployed through the API as `paperflow
// validate` does: each block configures itself.
func deployCheck(cfg *config, log *slog.Logger, secrets workflow.Secrets) func(context.Context, *workflow.Workflow) workflow.Problems {
	return func(ctx context.Context, wf *workflow.Workflow) workflow.Problems {
		checker := pluginhost.NewChecker(log)
		defer checker.Close()
		return configureProblems(ctx, catalogFor(cfg, log), checker, wf, wf.File, secrets)
	}
}
