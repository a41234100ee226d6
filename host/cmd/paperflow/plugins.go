package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/pluginhost"
)

// eventsWidth is how wide the EVENTS column of the plugins table grows
// before a block's events go on to the next line.
const eventsWidth = 44

// pluginInfo is a block as plugins -o json prints it.
type pluginInfo struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	Version     string   `json:"version"`
	Events      []string `json:"events"`
	Routes      bool     `json:"routes"`
	Description string   `json:"description"`
	Path        string   `json:"path"`
}

func newPluginsCmd(cfg *config) *cobra.Command {
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List the installed blocks with their kind, version and events",
		Long: `Plugins lists the blocks installed in the plugin directory (--plugins): each
one's kind, version, the events it emits (a sink: the events it takes),
whether it serves pages, and what it does. A long list of events wraps
onto more lines; -o json prints every block with its whole list.`,
		Example: `  paperflow plugins
  paperflow plugins -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg := cfg.registry()
			descs, errs := (&pluginhost.Catalog{Registry: reg, Log: cfg.logger(cmd.ErrOrStderr())}).All(cmd.Context())
			for _, err := range errs {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", err)
			}
			if len(descs) == 0 {
				return fmt.Errorf("no blocks found in %s: run `make build` or set --plugins", reg.Dir)
			}
			infos := make([]pluginInfo, 0, len(descs))
			for _, d := range descs {
				infos = append(infos, pluginInfo{
					Name: d.Name, Kind: string(d.Kind), Version: d.Version, Events: append([]string{}, d.Events...),
					Routes: d.HasRoutes, Description: d.Description, Path: d.Path,
				})
			}
			out := cmd.OutOrStdout()
			if !output.json() {
				fmt.Fprintf(out, "blocks in %s:\n", reg.Dir)
			}
			return printList(out, output, infos, "", "NAME\tKIND\tVERSION\tEVENTS\tROUTES\tDESCRIPTION", printPlugin)
		},
	}
	outputFlag(cmd.Flags(), &output)
	return cmd
}

// printPlugin is a block's row in the plugins table; its events go on
// over more lines when they do not fit eventsWidth.
func printPlugin(w io.Writer, p pluginInfo) {
	routes := ""
	if p.Routes {
		routes = "yes"
	}
	lines := wrapList(p.Events, eventsWidth)
	first := ""
	if len(lines) > 0 {
		first = lines[0]
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Kind, p.Version, first, routes, p.Description)
	for _, l := range lines[min(1, len(lines)):] {
		fmt.Fprintf(w, "\t\t\t%s\t\t\n", l)
	}
}

// wrapList joins items with commas into lines no wider than width; an
// item wider than width has a line of its own. Every line but the last
// ends with the comma, so the list reads on.
func wrapList(items []string, width int) []string {
	var lines []string
	cur := ""
	for i, it := range items {
		if i < len(items)-1 {
			it += ","
		}
		if cur != "" && len(cur)+len(it) > width {
			lines = append(lines, cur)
			cur = ""
		}
		cur += it
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}
