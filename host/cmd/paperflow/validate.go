package main

import (
	"context"
	"fmt"
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
			log := cfg.logger(cmd.ErrOrStderr())
			secrets, err := workflow.LoadSecrets(cfg.secretFile, os.Environ())
			if err != nil {
				return err
			}
			cat := catalogFor(cfg, log)
			checker := pluginhost.NewChecker(log)
			checker.Settings = cfg.registry().Settings // --webhook-allow and --signing-cert, as serve passes them
			defer checker.Close()
			bad := 0
			for _, file := range args {
				wf, problems := workflow.Load(file, cat, workflow.WithSecrets(secrets))
				if len(problems) == 0 {
					problems = configureProblems(ctx, cat, checker, wf, file, secrets)
				}
				if ctx.Err() != nil {
					return fmt.Errorf("validate: %w", context.Cause(ctx))
				}
				if len(problems) > 0 {
					bad++
					fmt.Fprintln(cmd.OutOrStdout(), problems.Error())
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", file)
			}
			if bad > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d file(s) have problems", bad, len(args))}
			}
			return nil
		},
	}
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
		wg.Add(1)
		go func() {
			defer wg.Done()
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
		}()
	}
	wg.Wait()
	var out workflow.Problems
	for i, err := range errs {
		if err == nil {
			continue
		}
		label := "source"
		if defs[i].ID != "" {
			label = fmt.Sprintf("block %q", defs[i].ID)
		}
		out = append(out, workflow.Problem{File: file, Line: defs[i].Line, Col: defs[i].Col, Msg: label + ": " + err.Error()})
	}
	return out
}

func catalogFor(cfg *config, log *slog.Logger) *pluginhost.Catalog {
	return &pluginhost.Catalog{Registry: cfg.registry(), Log: log}
}
