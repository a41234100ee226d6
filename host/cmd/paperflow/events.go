package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/events"
)

func newEventsCmd(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Work with the events on NATS"}
	var types []string
	var workflowName string
	var asJSON, all bool
	tail := &cobra.Command{
		Use:   "tail",
		Short: "Print events as they are published",
		Long: `Tail prints events from the PAPERFLOW_EVENTS stream as they are published:
one line per event, or the envelopes as JSON lines with --json. With --all
it starts from the first event kept. It connects to --nats, or to the NATS
of a running 'paperflow serve' on the same data directory, or opens the
embedded store itself. It runs until Ctrl-C.`,
		Example: `  paperflow events tail
  paperflow events tail --type DOCUMENTS_CREATED --json
  paperflow events tail --all --workflow invoices`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer cancel()
			filters, err := eventFilters(workflowName, types)
			if err != nil {
				return err
			}
			cmd.SetContext(ctx) // the connection ends with Ctrl-C too
			return cfg.withBus(cmd, func(ctx context.Context, b *bus.Bus) error {
				return tailEvents(ctx, b, filters, all, asJSON, cmd.OutOrStdout())
			})
		},
	}
	tail.Flags().StringSliceVar(&types, "type", nil, "only these event types (repeat or comma-separate)")
	tail.Flags().StringVar(&workflowName, "workflow", "", "only events of this workflow")
	tail.Flags().BoolVar(&asJSON, "json", false, "print each envelope as one JSON line")
	tail.Flags().BoolVar(&all, "all", false, "start from the first event kept, not from now")
	cmd.AddCommand(tail)
	return cmd
}

// tailEvents prints the events on filters as they are published (from
// the first one kept with all) until ctx ends.
func tailEvents(ctx context.Context, b *bus.Bus, filters []string, all, asJSON bool, out io.Writer) error {
	if _, err := events.EnsureStream(ctx, b.JS, b.Replicas, bus.DuplicateWindow); err != nil {
		return err
	}
	oc := jetstream.OrderedConsumerConfig{FilterSubjects: filters, DeliverPolicy: jetstream.DeliverNewPolicy}
	if all {
		oc.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	cons, err := b.JS.OrderedConsumer(ctx, events.StreamName, oc)
	if err != nil {
		return fmt.Errorf("follow events: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if asJSON {
			fmt.Fprintln(out, string(m.Data()))
			return
		}
		var env events.Envelope
		if err := json.Unmarshal(m.Data(), &env); err != nil {
			fmt.Fprintf(out, "unreadable event on %s: %v\n", m.Subject(), err)
			return
		}
		fmt.Fprintf(out, "%s  %-21s %s  workflow=%s run=%s item=%s block=%s\n",
			env.Metadata.CreatedAt.Format("15:04:05.000"), env.EventType, env.EventID,
			env.Metadata.Workflow, env.Metadata.RunID, env.Metadata.ItemID, env.Metadata.BlockID)
	})
	if err != nil {
		return fmt.Errorf("follow events: %w", err)
	}
	defer cc.Stop()
	<-ctx.Done()
	return nil
}

func eventFilters(workflowName string, types []string) ([]string, error) {
	wf := "*"
	if workflowName != "" {
		// A name is one token of the subject: "a.b" would follow nothing.
		if err := deploy.CheckName(workflowName); err != nil {
			return nil, fmt.Errorf("--workflow: %w", err)
		}
		wf = workflowName
	}
	if len(types) == 0 {
		return []string{"paperflow.events." + wf + ".*"}, nil
	}
	var out []string
	for _, t := range types {
		et, err := events.ParseType(t)
		if err != nil {
			return nil, fmt.Errorf("--type: %w", err)
		}
		out = append(out, "paperflow.events."+wf+"."+string(et))
	}
	return out, nil
}

// openBus connects like the engine does, preferring a running serve's NATS.
func (c *config) openBus(ctx context.Context) (*bus.Bus, error) {
	url := c.natsURL
	if url == "" {
		if st, ok := readServeState(c.dataDir); ok {
			url = st.NATSURL
		}
	}
	return bus.Open(ctx, bus.Options{URL: url, DataDir: c.dataDir, Replicas: c.replicas, Logger: c.logger(os.Stderr)})
}

// withBus runs fn on a connection opened as openBus opens it, for the
// length of one command.
func (c *config) withBus(cmd *cobra.Command, fn func(ctx context.Context, b *bus.Bus) error) error {
	ctx := cmd.Context()
	b, err := c.openBus(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	return fn(ctx, b)
}
