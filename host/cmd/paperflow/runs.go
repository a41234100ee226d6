package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newRunsCmd(cfg *config) *cobra.Command {
	var asJSON bool
	var output string
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
			e, err := cfg.inspectEngine(ctx, b, cfg.logger(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			runs, err := e.Runs(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: use text or json", output)
			}
			if asJSON || output == "json" {
				return printJSON(out, runs)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tWORKFLOW\tVERSION\tTRIGGER\tSTATUS\tITEMS READ\tSTARTED\tERROR")
			for _, r := range runs {
				read := fmt.Sprint(r.Enqueued)
				if !r.SourceDone {
					read += "+"
				}
				version := r.Version
				if version == "" {
					version = "-" // started from a file before workflows were deployed
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Workflow, version, r.Trigger, r.Status, read, r.Created.Format("2006-01-02 15:04:05"), r.Error)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run records as JSON (as --output json)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "format: text or json")
	return cmd
}
