package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

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
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log := cfg.logger(cmd.ErrOrStderr())
			secrets, err := workflow.LoadSecrets(cfg.secretFile, os.Environ())
			if err != nil {
				return err
			}
			cat := catalogFor(cfg, log)
			bad := 0
			for _, file := range args {
				_, problems := workflow.Load(file, cat, workflow.WithSecrets(secrets))
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

func catalogFor(cfg *config, log *slog.Logger) *pluginhost.Catalog {
	return &pluginhost.Catalog{Registry: cfg.registry(), Log: log}
}
