package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/plugins/websend"
)

func newWebhooksCmd(cfg *config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Webhook deliveries, dead letters, replays and subscriptions",
		Long: `Webhooks inspects and steers webhook delivery: the attempt log of every
sink (webhook blocks and subscriptions), the dead letters, replays, and the
subscriptions that receive the events of every workflow.

Sinks are named workflow/block, e.g. invoices/notify; a subscription is
_all/sub-<id>. The commands connect to --nats, or to the NATS of a running
'paperflow serve' on the same data directory, or open the embedded store.`,
	}
	cmd.AddCommand(newDeliveriesCmd(cfg), newDeadLettersCmd(cfg), newReplayCmd(cfg),
		newSubscribeCmd(cfg), newListSubscriptionsCmd(cfg), newUnsubscribeCmd(cfg))
	return cmd
}

func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return fmt.Errorf("--output %q: use text or json", output)
	}
	return nil
}

// withBus runs fn on a connection to paperflow's NATS with delivery's
// streams in place.
func withBus(cmd *cobra.Command, cfg *config, fn func(ctx context.Context, b *bus.Bus) error) error {
	ctx := cmd.Context()
	b, err := cfg.openBus(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := delivery.EnsureStreams(ctx, b.JS, b.Replicas); err != nil {
		return err
	}
	return fn(ctx, b)
}

func newDeliveriesCmd(cfg *config) *cobra.Command {
	var q delivery.AttemptQuery
	var since time.Duration
	var output string
	cmd := &cobra.Command{
		Use:   "deliveries",
		Short: "Show the attempt log: every delivery attempt, its status, latency and response",
		Example: `  paperflow webhooks deliveries
  paperflow webhooks deliveries --sink invoices/notify --since 1h
  paperflow webhooks deliveries --event 5b0e…c41 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if since > 0 {
				q.Since = time.Now().Add(-since)
			}
			return withBus(cmd, cfg, func(ctx context.Context, b *bus.Bus) error {
				as, err := delivery.Attempts(ctx, b.JS, q)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if output == "json" {
					if as == nil {
						as = []delivery.Attempt{}
					}
					return printJSON(out, as)
				}
				if len(as) == 0 {
					fmt.Fprintln(out, "no delivery attempts in that window")
					return nil
				}
				tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tSINK\tEVENT\tTYPE\tTRY\tSTATUS\tHTTP\tMS\tREASON")
				for _, a := range as {
					status := a.Status
					if a.DeadLettered {
						status += " → dead letter"
					} else if a.NextAttempt != nil {
						status += " (next " + a.NextAttempt.Local().Format("15:04:05") + ")"
					}
					if a.Replay {
						status += " [replay]"
					}
					http := ""
					if a.HTTPStatus != 0 {
						http = fmt.Sprint(a.HTTPStatus)
					}
					fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%d\t%s\t%s\t%.1f\t%s\n", a.Time.Local().Format("01-02 15:04:05"), a.Workflow, a.Sink,
						short(a.EventID), a.EventType, a.Attempt, status, http, a.LatencyMS, clipLine(a.Reason, 60))
				}
				return tw.Flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Sink, "sink", "", "only this sink (workflow/block, or _all/sub-<id>)")
	f.StringVar(&q.EventID, "event", "", "only the attempts of this event id")
	f.DurationVar(&since, "since", 0, "how far back to look (default 24h; everything kept with --event)")
	f.IntVar(&q.Limit, "limit", 100, "show at most this many of the newest attempts")
	f.StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// short abbreviates a 48-character event id for a table; --output json
// has it whole.
func short(id string) string {
	if len(id) > 16 {
		return id[:8] + "…" + id[len(id)-4:]
	}
	return id
}

func clipLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func newDeadLettersCmd(cfg *config) *cobra.Command {
	var sinks []string
	var output string
	cmd := &cobra.Command{
		Use:   "dead-letters",
		Short: "List the events sinks gave up on",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return withBus(cmd, cfg, func(ctx context.Context, b *bus.Bus) error {
				dls, err := delivery.DeadLetters(ctx, b.JS, sinks...)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if output == "json" {
					if dls == nil {
						dls = []delivery.DeadLetter{}
					}
					return printJSON(out, dls)
				}
				if len(dls) == 0 {
					fmt.Fprintln(out, "no dead letters")
					return nil
				}
				tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tSINK\tEVENT\tTYPE\tTRIES\tREASON")
				for _, d := range dls {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", d.Time.Local().Format("01-02 15:04:05"), d.Ref(), d.EventID, d.EventType, d.Attempts, clipLine(d.Reason, 80))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(out, "\nDeliver them again with: paperflow webhooks replay --dead-letters")
				return nil
			})
		},
	}
	cmd.Flags().StringSliceVar(&sinks, "sink", nil, "only these sinks (workflow/block)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func newReplayCmd(cfg *config) *cobra.Command {
	var sinks []string
	var deadLetters bool
	cmd := &cobra.Command{
		Use:   "replay EVENT_ID | --dead-letters",
		Short: "Deliver an event, or every dead letter, again",
		Long: `Replay queues events for delivery again, with the sink's retries and
attempt log, as if they were new. With an event id it goes to every sink that
takes the event (or those given with --sink); with --dead-letters every dead
letter (of the --sink sinks, or all) is queued and removed from the dead
letters. A running 'paperflow serve' delivers them.`,
		Example: `  paperflow webhooks replay 5b0e2d…c41
  paperflow webhooks replay 5b0e2d…c41 --sink invoices/notify
  paperflow webhooks replay --dead-letters`,
		Args: func(cmd *cobra.Command, args []string) error {
			if deadLetters == (len(args) == 1) || len(args) > 1 {
				return errors.New("give one EVENT_ID, or --dead-letters")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return withBus(cmd, cfg, func(ctx context.Context, b *bus.Bus) error {
				out := cmd.OutOrStdout()
				if deadLetters {
					n, err := delivery.ReplayDeadLetters(ctx, b.JS, sinks...)
					fmt.Fprintf(out, "queued %d dead letter(s) for delivery\n", n)
					return err
				}
				refs, err := delivery.Replay(ctx, b.JS, args[0], sinks...)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "queued event %s for %s\n", args[0], strings.Join(refs, ", "))
				return nil
			})
		},
	}
	cmd.Flags().StringSliceVar(&sinks, "sink", nil, "only these sinks (workflow/block, or _all/sub-<id>)")
	cmd.Flags().BoolVar(&deadLetters, "dead-letters", false, "replay every dead letter")
	return cmd
}

func openStore(ctx context.Context, cfg *config, b *bus.Bus) (*delivery.SubscriptionStore, error) {
	allow, err := websend.ParseAllow(cfg.webhookAllow)
	if err != nil {
		return nil, err
	}
	return delivery.OpenSubscriptions(ctx, b.JS, b.Replicas, allow)
}

func newSubscribeCmd(cfg *config) *cobra.Command {
	var url, description, output string
	var eventTypes []string
	var disabled bool
	cmd := &cobra.Command{
		Use:   "subscribe --url URL",
		Short: "Subscribe a URL to the events of every workflow; prints its id and signing secret",
		Example: `  paperflow webhooks subscribe --url https://crm.example.com/hooks/paperflow
  paperflow webhooks subscribe --url https://x.example.com/in --event SIGNATURES_COMPLETED --description "sales CRM"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			in := delivery.SubscriptionInput{URL: &url, Description: &description}
			if cmd.Flags().Changed("event") {
				in.Events = eventTypes
			}
			enabled := !disabled
			in.Enabled = &enabled
			return withBus(cmd, cfg, func(ctx context.Context, b *bus.Bus) error {
				store, err := openStore(ctx, cfg, b)
				if err != nil {
					return err
				}
				sub, err := store.Create(ctx, in)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if output == "json" {
					return printJSON(out, sub)
				}
				fmt.Fprintf(out, "subscription %s\n  url     %s\n  events  %s\n  enabled %t\n  secret  %s\n\nKeep the secret: receivers verify signatures with it (plugins/webhook/verify); it is not shown again.\n",
					sub.ID, sub.URL, strings.Join(sub.Events, ", "), sub.Enabled, sub.Secret)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "", "the endpoint (http or https)")
	f.StringVar(&description, "description", "", "what it is for")
	f.StringSliceVar(&eventTypes, "event", nil, "event types to send (repeat or comma-separate; default the four main ones)")
	f.BoolVar(&disabled, "disabled", false, "create it disabled")
	f.StringVarP(&output, "output", "o", "text", "text or json")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

func newListSubscriptionsCmd(cfg *config) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List webhook subscriptions (without their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return withBus(cmd, cfg, func(ctx context.Context, b *bus.Bus) error {
				store, err := openStore(ctx, cfg, b)
				if err != nil {
					return err
				}
				subs, err := store.List(ctx)
				if err != nil {
					return err
				}
				for i := range subs {
					subs[i] = subs[i].Public()
				}
				out := cmd.OutOrStdout()
				if output == "json" {
					if subs == nil {
						subs = []delivery.Subscription{}
					}
					return printJSON(out, subs)
				}
				if len(subs) == 0 {
					fmt.Fprintln(out, "no subscriptions")
					return nil
				}
				tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tENABLED\tURL\tEVENTS\tDESCRIPTION")
				for _, s := range subs {
					enabled := fmt.Sprint(s.Enabled)
					if s.DisabledReason != "" {
						enabled += " (" + s.DisabledReason + ")"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, enabled, s.URL, strings.Join(s.Events, ","), s.Description)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func newUnsubscribeCmd(cfg *config) *cobra.Command {
	return &cobra.Command{
		Use:   "unsubscribe ID",
		Short: "Delete a webhook subscription",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withBus(cmd, cfg, func(ctx context.Context, b *bus.Bus) error {
				store, err := openStore(ctx, cfg, b)
				if err != nil {
					return err
				}
				if err := store.Delete(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "subscription %s deleted\n", args[0])
				return nil
			})
		},
	}
}
