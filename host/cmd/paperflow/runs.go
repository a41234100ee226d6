package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
)

func newRunsCmd(cfg *config) *cobra.Command {
	var asJSON bool
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the runs kept in NATS with their status (resume one with run --resume)",
		Long: `Runs lists every run kept in NATS, newest first: its workflow, the version it
runs on, what started it, its status and how many items the source gave so
far (+ while it is still reading). An interrupted run goes on with
'paperflow run FILE --resume RUN'. It connects to --nats, or to the NATS of
a running 'paperflow serve' on the same data directory, or opens the
embedded store.`,
		Example: `  paperflow runs
  paperflow runs -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cfg.withBus(cmd, func(ctx context.Context, b *bus.Bus) error {
				e, err := cfg.inspectEngine(ctx, b, cfg.logger(cmd.ErrOrStderr()))
				if err != nil {
					return err
				}
				runs, err := e.Runs(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					output = "json"
				}
				return printList(cmd.OutOrStdout(), output, runs, "no runs kept; start one with: paperflow run FILE",
					"RUN\tWORKFLOW\tVERSION\tTRIGGER\tSTATUS\tITEMS READ\tSTARTED\tERROR", printRun)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run records as JSON (as --output json)")
	outputFlag(cmd.Flags(), &output)
	return cmd
}

// printRun is a run's row in the runs table.
func printRun(w io.Writer, r engine.RunInfo) {
	read := fmt.Sprint(r.Enqueued)
	if !r.SourceDone {
		read += "+"
	}
	version := r.Version
	if version == "" {
		version = "-" // started from a file before workflows were deployed
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Workflow, version, r.Trigger, r.Status, read, r.Created.Format("2006-01-02 15:04:05"), r.Error)
}
