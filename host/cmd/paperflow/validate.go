package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
)

func newValidateCmd(cfg *config) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check workflow files and print every problem as file:line:col",
		Long: `Validate checks each workflow file against the workflow schema, each block's
own configuration schema, block ids and references between blocks, files
and secrets, and the tags in every value. Every problem is printed as
file:line:col: message. The exit code is 1 when any file has a problem.`,
		Example: `  paperflow validate workflows/invoices.yaml
  paperflow validate workflows/*.yaml
  PAPERFLOW_SECRET_HOOK_URL=https://example.com/hook paperflow validate notify.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Stop at SIGINT/SIGTERM by unwinding, so the blocks started
			// for the checks are killed on the way out.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			_, bad, err := checkFiles(ctx, cfg, cfg.logger(cmd.ErrOrStderr()), args, cmd.OutOrStdout(), "validate", true)
			if err != nil {
				return err
			}
			if bad > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d file(s) have problems", bad, len(args))}
			}
			return nil
		},
	}
}

// checkFiles loads and checks workflow files, for validate and for deploy
// before it stores anything: the workflow schema and references, then each
// block's own configuration (configureProblems) with the block settings
// serve passes (--webhook-allow, --signing-cert). It prints every problem
// to out, and "FILE: ok" for a good file when okLines is set, and returns
// the good files' workflows and how many files have problems. command
// names the command in the error of an interrupted check.
func checkFiles(ctx context.Context, cfg *config, log *slog.Logger, files []string, out io.Writer, command string, okLines bool) (wfs []*workflow.Workflow, bad int, err error) {
	secrets, err := workflow.LoadSecrets(cfg.secretFile, os.Environ())
	if err != nil {
		return nil, 0, err
	}
	cat := catalogFor(cfg, log)
	checker := pluginhost.NewChecker(log)
	checker.Settings = cfg.registry().Settings
	defer checker.Close()
	for _, file := range files {
		wf, problems := workflow.Load(file, cat, workflow.WithSecrets(secrets))
		if len(problems) == 0 {
			problems = configureProblems(ctx, cat, checker, wf, file, secrets)
		}
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("%s: %w", command, context.Cause(ctx))
		}
		if len(problems) > 0 {
			bad++
			fmt.Fprintln(out, problems.Error())
			continue
		}
		if okLines {
			fmt.Fprintf(out, "%s: ok\n", file)
		}
		wfs = append(wfs, wf)
	}
	return wfs, bad, nil
}

// configureProblems has every block of a valid workflow configure itself
// (without Host services), in parallel, and reports what they refuse: what
// a schema cannot say, such as a template with a broken tag or a tool a
// block needs that is not installed. The blocks of one binary share its
// process. A sink gets its `with:` with the secrets resolved, as serve
// gives it (delivery.ResolveSecrets), so what validate accepts serve runs.
func configureProblems(ctx context.Context, cat *pluginhost.Catalog, checker *pluginhost.Checker, wf *workflow.Workflow, file string, secrets workflow.Secrets) workflow.Problems {
	defs := append([]workflow.Block{wf.Source}, wf.Blocks...)
	errs := make([]error, len(defs))
	var wg sync.WaitGroup
	for i, def := range defs {
		wg.Go(func() {
			desc, err := cat.Describe(ctx, def.Uses)
			if err != nil {
				errs[i] = err
				return
			}
			with := def.ConfigJSON()
			if def.Kind == workflow.KindSink {
				if with, err = delivery.ResolveSecrets(with, secrets.Lookup); err != nil {
					errs[i] = err
					return
				}
			}
			errs[i] = checker.Check(ctx, desc.Path, pluginhost.Instance{Workflow: wf.Name, BlockID: def.ID}, with, wf.Dir)
		})
	}
	wg.Wait()
	var out workflow.Problems
	for i, err := range errs {
		if err == nil {
			continue
		}
		out = append(out, workflow.Problem{File: file, Line: defs[i].Line, Col: defs[i].Col, Msg: defs[i].Label() + ": " + err.Error()})
	}
	return out
}

func catalogFor(cfg *config, log *slog.Logger) *pluginhost.Catalog {
	return &pluginhost.Catalog{Registry: cfg.registry(), Log: log}
}
