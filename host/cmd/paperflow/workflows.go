package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/deploy"
)

func newWorkflowsCmd(cfg *config) *cobra.Command {
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "workflows",
		Short: "List, show, roll back and delete the workflows deployed in NATS",
		Long: `Workflows shows what 'paperflow deploy' stored: every deployed workflow with
its current version, a version's files, the history of deploys, rollbacks
and deletes. Rollback and delete take effect on every serve at once; runs
already going keep the version they started on. A VERSION may be given by
a unique prefix of its id, as history lists them.`,
		Example: `  paperflow workflows list
  paperflow workflows show signature
  paperflow workflows history signature
  paperflow workflows rollback signature            # to the version before
  paperflow workflows rollback signature 3f2a9c1e   # to this version
  paperflow workflows delete signature`,
	}
	outputFlag(cmd.PersistentFlags(), &output)
	// with opens the store for one subcommand.
	with := func(f func(ctx context.Context, s *deploy.Store, out io.Writer, args []string) error) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			b, s, err := cfg.openDeployStore(ctx, cfg.logger(c.ErrOrStderr()))
			if err != nil {
				return err
			}
			defer b.Close()
			return f(ctx, s, c.OutOrStdout(), args)
		}
	}
	asJSON := func() bool { return output.json() }
	cmd.AddCommand(
		&cobra.Command{
			Use: "list", Short: "List the deployed workflows and their current versions", Args: cobra.NoArgs,
			RunE: with(func(ctx context.Context, s *deploy.Store, out io.Writer, _ []string) error {
				list, err := s.List(ctx)
				if err != nil || asJSON() {
					return jsonOr(out, list, err)
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tVERSION\tSINCE\tBY\tFILES\tDESCRIPTION")
				for _, d := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", d.Name, d.Version, when(d.Since), d.By, d.Files, d.Description)
				}
				return tw.Flush()
			}),
		},
		&cobra.Command{
			Use: "show NAME [VERSION]", Short: "Show a version of a workflow (the current one by default) and its files", Args: cobra.RangeArgs(1, 2),
			RunE: with(func(ctx context.Context, s *deploy.Store, out io.Writer, args []string) error {
				v, err := s.Version(ctx, args[0], optional(args, 1))
				if err != nil || asJSON() {
					return jsonOr(out, v, err)
				}
				fmt.Fprintf(out, "workflow  %s\nversion   %s\ncreated   %s by %s\nfile      %s\n", v.Name, v.ID, when(v.Created), v.By, v.Workflow)
				if v.Description != "" {
					fmt.Fprintf(out, "about     %s\n", v.Description)
				}
				if cur, err := s.Current(ctx, v.Name); err == nil && cur.Version == v.ID {
					fmt.Fprintln(out, "current   yes")
				} else {
					fmt.Fprintln(out, "current   no")
				}
				fmt.Fprintln(out)
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "FILE\tBYTES\tSHA-256")
				for _, f := range v.Files {
					fmt.Fprintf(tw, "%s\t%d\t%s\n", f.Path, f.Size, f.SHA256)
				}
				return tw.Flush()
			}),
		},
		&cobra.Command{
			Use: "history NAME", Short: "List a workflow's deploys, rollbacks and deletes, oldest first", Args: cobra.ExactArgs(1),
			RunE: with(func(ctx context.Context, s *deploy.Store, out io.Writer, args []string) error {
				hist, err := s.History(ctx, args[0])
				if err != nil || asJSON() {
					return jsonOr(out, hist, err)
				}
				cur, _ := s.Current(ctx, args[0])
				// The change that made the current version current is the
				// last one naming it; an earlier deploy of it is not.
				current := -1
				for i, c := range hist {
					if c.Version != "" && c.Version == cur.Version {
						current = i
					}
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "WHEN\tACTION\tVERSION\tBY")
				for i, c := range hist {
					mark := ""
					if i == current {
						mark = "\t(current)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s%s\n", when(c.At), c.Action, c.Version, c.By, mark)
				}
				return tw.Flush()
			}),
		},
		&cobra.Command{
			Use: "rollback NAME [VERSION]", Short: "Make an earlier version current (the one before the current by default)", Args: cobra.RangeArgs(1, 2),
			RunE: with(func(ctx context.Context, s *deploy.Store, out io.Writer, args []string) error {
				res, err := s.Rollback(ctx, args[0], optional(args, 1), deployer())
				if err != nil || asJSON() {
					return jsonOr(out, res, err)
				}
				if res.Unchanged {
					fmt.Fprintf(out, "%s: version %s is already current; nothing changed\n", res.Name, res.Version)
					return nil
				}
				fmt.Fprintf(out, "%s: rolled back to version %s (was %s)\n", res.Name, res.Version, orNone(res.Previous))
				return nil
			}),
		},
		&cobra.Command{
			Use: "delete NAME", Short: "Stop every host serving a workflow (its versions stay for runs on them and for rollback)", Args: cobra.ExactArgs(1),
			RunE: with(func(ctx context.Context, s *deploy.Store, out io.Writer, args []string) error {
				err := s.Delete(ctx, args[0], deployer())
				if err != nil || asJSON() {
					return jsonOr(out, map[string]string{"deleted": args[0]}, err)
				}
				fmt.Fprintf(out, "%s: deleted; bring it back with: paperflow workflows rollback %s\n", args[0], args[0])
				return nil
			}),
		},
	)
	return cmd
}

// jsonOr returns err, or prints v as JSON.
func jsonOr(out io.Writer, v any, err error) error {
	if err != nil {
		return err
	}
	return printJSON(out, v)
}

func optional(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "none: it was deleted"
	}
	return s
}

func when(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }
