package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/engine"
)

func newRunsCmd(cfg *config) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the runs kept in NATS with their status (resume one with run --resume)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			b, err := cfg.openBus(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			e, err := engine.New(ctx, engine.Options{Bus: b, Plugins: cfg.registry(), PublicURL: cfg.public(), Mail: cfg.outbox(), Log: cfg.logger(cmd.ErrOrStderr())})
			if err != nil {
				return err
			}
			runs, err := e.Runs(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(runs)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tWORKFLOW\tSTATUS\tITEMS READ\tSTARTED\tERROR")
			for _, r := range runs {
				read := fmt.Sprint(r.Enqueued)
				if !r.SourceDone {
					read += "+"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Workflow, r.Status, read, r.Created.Format("2006-01-02 15:04:05"), r.Error)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run records as JSON")
	return cmd
}
