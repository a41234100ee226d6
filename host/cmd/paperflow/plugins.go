package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/pluginhost"
)

func newPluginsCmd(cfg *config) *cobra.Command {
	return &cobra.Command{
		Use:   "plugins",
		Short: "List the installed blocks with their kind, version and events",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := cfg.logger(cmd.ErrOrStderr())
			reg := cfg.registry()
			descs, errs := (&pluginhost.Catalog{Registry: reg, Log: log}).All(cmd.Context())
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "blocks in %s:\n", reg.Dir)
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tVERSION\tEVENTS\tROUTES\tDESCRIPTION")
			for _, d := range descs {
				routes := ""
				if d.HasRoutes {
					routes = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.Kind, d.Version, strings.Join(d.Events, ","), routes, d.Description)
			}
			_ = tw.Flush()
			for _, err := range errs {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", err)
			}
			if len(descs) == 0 {
				return fmt.Errorf("no blocks found in %s: run `make build` or set --plugins", reg.Dir)
			}
			return nil
		},
	}
}
