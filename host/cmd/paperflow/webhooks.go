package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
		newSubscribeCmd(cfg), newUpdateSubscriptionCmd(cfg), newListSubscriptionsCmd(cfg), newUnsubscribeCmd(cfg))
	return cmd
}

// withBus runs fn on a connection to paperflow's NATS with delivery's
// streams in place.
func withBus(cmd *cobra.Command, cfg *config, fn func(ctx context.Context, b *bus.Bus) error) error {
	return cfg.withBus(cmd, func(ctx context.Context, b *bus.Bus) error {
		if err := delivery.EnsureStreams(ctx, b.JS, b.Replicas); err != nil {
			return err
		}
		return fn(ctx, b)
	})
}

func newDeliveriesCmd(cfg *config) *cobra.Command {
	var q delivery.AttemptQuery
	var since time.Duration
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "deliveries",
		Short: "Show the attempt log: every delivery attempt, its status, latency and response",
		Example: `  paperflow webhooks deliveries
  paperflow webhooks deliveries --sink invoices/notify --since 1h
  paperflow webhooks deliveries --event 5b0e…c41 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case since < 0 || cmd.Flags().Changed("since") && since == 0:
				return fmt.Errorf("--since %s: give how far back to look, e.g. --since 1h", since)
			case q.Limit < 1:
				return fmt.Errorf("--limit %d: give how many attempts to show at most, 1 or more", q.Limit)
			case since > 0:
				q.Since = time.Now().Add(-since)
			}
			return withBus(cmd, cfg, func(ctx context.Context, b *bus.Bus) error {
				as, err := delivery.Attempts(ctx, b.JS, q)
				if err != nil {
					return err
				}
				return printList(cmd.OutOrStdout(), output, as, "no delivery attempts in that window",
					"TIME\tSINK\tEVENT\tTYPE\tTRY\tSTATUS\tHTTP\tMS\tREASON", printAttempt)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Sink, "sink", "", "only this sink (workflow/block, or _all/sub-<id>)")
	f.StringVar(&q.EventID, "event", "", "only the attempts of this event id")
	f.DurationVar(&since, "since", 0, "how far back to look (default 24h; everything kept with --event)")
	f.IntVar(&q.Limit, "limit", 100, "show at most this many of the newest attempts")
	outputFlag(f, &output)
	return cmd
}

// printAttempt is an attempt's row in the deliveries table.
func printAttempt(w io.Writer, a delivery.Attempt) {
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
	fmt.Fprintf(w, "%s\t%s/%s\t%s\t%s\t%d\t%s\t%s\t%.1f\t%s\n", a.Time.Local().Format("01-02 15:04:05"), a.Workflow, a.Sink,
		short(a.EventID), a.EventType, a.Attempt, status, http, a.LatencyMS, clipLine(a.Reason, 60))
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
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "dead-letters",
		Short: "List the events sinks gave up on",
		Long: `Dead-letters lists the events a sink gave up on after its last retry, with
the reason of the last attempt. 'paperflow webhooks replay --dead-letters'
delivers them again.`,
		Example: `  paperflow webhooks dead-letters
  paperflow webhooks dead-letters --sink invoices/notify --sink _all/sub-3f0c…9a1b -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withBus(cmd, cfg, func(ctx context.Context, b *bus.Bus) error {
				dls, err := delivery.DeadLetters(ctx, b.JS, sinks...)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				err = printList(out, output, dls, "no dead letters", "TIME\tSINK\tEVENT\tTYPE\tTRIES\tREASON", func(w io.Writer, d delivery.DeadLetter) {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", d.Time.Local().Format("01-02 15:04:05"), d.Ref(), d.EventID, d.EventType, d.Attempts, clipLine(d.Reason, 80))
				})
				if err != nil || output.json() || len(dls) == 0 {
					return err
				}
				fmt.Fprintln(out, "\nDeliver them again with: paperflow webhooks replay --dead-letters")
				return nil
			})
		},
	}
	cmd.Flags().StringSliceVar(&sinks, "sink", nil, "only these sinks (workflow/block)")
	outputFlag(cmd.Flags(), &output)
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
letters. A running 'paperflow serve' delivers them.

EVENT_ID is the whole id, 48 hex digits: 'paperflow webhooks deliveries -o json',
'dead-letters' and 'paperflow events tail' show it (the deliveries table
shortens it).`,
		Example: `  paperflow webhooks replay 5b0e2d…c41
  paperflow webhooks replay 5b0e2d…c41 --sink invoices/notify
  paperflow webhooks replay --dead-letters`,
		Args: func(cmd *cobra.Command, args []string) error {
			if deadLetters == (len(args) == 1) || len(args) > 1 {
				return errors.New("give one EVENT_ID, or --dead-letters")
			}
			if len(args) == 1 && strings.Contains(args[0], "…") {
				return fmt.Errorf("%s is an event id as the deliveries table shortens it; give the whole id (paperflow webhooks deliveries -o json shows it)", args[0])
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

// subscriptionFlags are the flags of subscribe and update: what a
// subscription holds. They become a delivery.SubscriptionInput, which the
// store validates, as it validates the API's: one set of rules for both.
type subscriptionFlags struct {
	url, description, condition string
	events, workflows, headers  []string
	// Update only: clear what the API clears with [] and {}.
	allWorkflows, noCondition, noHeaders bool
}

// register adds the flags to f; update adds the ones that clear a setting.
func (s *subscriptionFlags) register(f *pflag.FlagSet, update bool) {
	f.StringVar(&s.url, "url", "", "the endpoint, an http:// or https:// URL")
	f.StringVar(&s.description, "description", "", "what it is for, shown by list")
	f.StringSliceVar(&s.events, "event", nil, "event types to send, e.g. --event SIGNATURES_COMPLETED (repeat or comma-separate; default the four main ones)")
	f.StringSliceVar(&s.workflows, "workflow", nil, "only the events of this workflow, e.g. --workflow invoices (repeat for several; default every workflow)")
	f.StringVar(&s.condition, "condition", "", `send only the events this jq test passes, e.g. --condition '.data.documents | length > 0'; or a JSON condition as the API takes: '{"any": [...]}', '{"type": "JQ", "expressions": [...], "combinator": "or"}'`)
	f.StringArrayVar(&s.headers, "header", nil, "a header sent with every delivery, e.g. --header 'Authorization: Bearer abc123' (repeat for several; #name variables allowed); values are never printed")
	if update {
		f.Lookup("header").Usage = "set the headers sent with every delivery, replacing all of them, e.g. --header 'X-Team: billing' (repeat for several); values are never printed"
		f.BoolVar(&s.allWorkflows, "all-workflows", false, "send the events of every workflow again (drop the --workflow filter)")
		f.BoolVar(&s.noCondition, "no-condition", false, "drop the condition")
		f.BoolVar(&s.noHeaders, "no-headers", false, "drop every header")
	}
}

// input is the subscription input of the flags the command line set.
func (s *subscriptionFlags) input(f *pflag.FlagSet) (delivery.SubscriptionInput, error) {
	var in delivery.SubscriptionInput
	if f.Changed("url") {
		in.URL = &s.url
	}
	if f.Changed("description") {
		in.Description = &s.description
	}
	if f.Changed("event") {
		in.Events = s.events
	}
	switch {
	case f.Changed("workflow"):
		in.Workflows = s.workflows
	case s.allWorkflows:
		in.Workflows = []string{}
	}
	switch {
	case f.Changed("condition"):
		c, err := parseCondition(s.condition)
		if err != nil {
			return in, err
		}
		in.Condition = c
	case s.noCondition:
		in.Condition = &websend.Condition{}
	}
	switch {
	case f.Changed("header"):
		h, err := parseHeaders(s.headers)
		if err != nil {
			return in, err
		}
		in.Headers = h
	case s.noHeaders:
		in.Headers = map[string]string{}
	}
	return in, nil
}

// parseCondition reads --condition: a JSON object is a condition as the
// API takes it (read as strictly), anything else one jq expression that
// must hold. A jq object construction is always true, so no test is lost.
func parseCondition(arg string) (*websend.Condition, error) {
	arg = strings.TrimSpace(arg)
	if arg == "" {
		return nil, errors.New(`--condition: empty; give a jq test such as '.data.documents | length > 0' (update --no-condition drops one)`)
	}
	if !strings.HasPrefix(arg, "{") {
		return &websend.Condition{All: []string{arg}}, nil
	}
	var c websend.Condition
	dec := json.NewDecoder(strings.NewReader(arg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf(`--condition: not a JSON condition (%v); write {"all": ["jq", ...]}, {"any": [...]} or {"type": "JQ", "expressions": [...], "combinator": "and"}`, strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return nil, errors.New("--condition: text after the JSON object; give one object")
	}
	return &c, nil
}

// parseHeaders reads each --header 'Name: value'. Its errors name a header
// by its name or its position, never by its value: values often hold
// credentials.
func parseHeaders(args []string) (map[string]string, error) {
	out := make(map[string]string, len(args))
	seen := map[string]bool{}
	for i, arg := range args {
		name, value, ok := strings.Cut(arg, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("--header number %d: want 'Name: value', e.g. --header 'X-Team: billing'", i+1)
		}
		canon := http.CanonicalHeaderKey(name)
		if seen[canon] {
			return nil, fmt.Errorf("--header %s: given twice; give each header once", canon)
		}
		seen[canon] = true
		out[name] = strings.TrimSpace(value)
	}
	return out, nil
}

// subscriptionFlag names the flag that sets each field the store judges.
var subscriptionFlag = map[string]string{
	"url": "--url", "description": "--description", "events": "--event",
	"workflows": "--workflow", "condition": "--condition", "headers": "--header",
}

// subscriptionError words a store error for the command line: the flag
// instead of the API's field, --allow-duplicate instead of its key.
func subscriptionError(err error) error {
	var inv *delivery.InvalidError
	var dup *delivery.DuplicateError
	switch {
	case errors.As(err, &dup):
		return fmt.Errorf("subscription %s has the same url, events, workflows and condition (paperflow webhooks list shows it); add --allow-duplicate to create another", dup.ID)
	case errors.As(err, &inv):
		if flag, ok := subscriptionFlag[inv.Field]; ok {
			return fmt.Errorf("%s: %s", flag, inv.Msg)
		}
	case errors.Is(err, delivery.ErrSubscriptionNotFound):
		return fmt.Errorf("%w (paperflow webhooks list shows the ids)", err)
	}
	return err
}

// printSubscription describes sub as created or changed: its secret when
// it has one (only at creation), its headers by name only.
func printSubscription(out io.Writer, sub delivery.Subscription, output outputFormat) error {
	shown := sub.Public()
	shown.Secret = sub.Secret
	if output.json() {
		return printJSON(out, shown)
	}
	workflows := "every workflow"
	if len(sub.Workflows) > 0 {
		workflows = strings.Join(sub.Workflows, ", ")
	}
	condition := "none"
	if sub.Condition != nil {
		condition = conditionText(*sub.Condition)
	}
	headers := "none"
	if len(sub.Headers) > 0 {
		headers = strings.Join(slices.Sorted(maps.Keys(sub.Headers)), ", ") + " (values not shown)"
	}
	enabled := fmt.Sprint(sub.Enabled)
	if sub.DisabledReason != "" {
		enabled += " (" + sub.DisabledReason + ")"
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "subscription\t%s\n", sub.ID)
	for _, row := range [][2]string{{"url", sub.URL}, {"description", sub.Description}, {"events", strings.Join(sub.Events, ", ")},
		{"workflows", workflows}, {"condition", condition}, {"headers", headers}, {"enabled", enabled}} {
		if row[1] != "" {
			fmt.Fprintf(tw, "  %s\t%s\n", row[0], row[1])
		}
	}
	if sub.Secret != "" {
		fmt.Fprintf(tw, "  secret\t%s\n", sub.Secret)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if sub.Secret != "" {
		fmt.Fprintln(out, "\nKeep the secret: receivers verify signatures with it (plugins/webhook/verify); it is not shown again.")
	}
	return nil
}

// printSubscriptionRow is a subscription's row in the list table.
func printSubscriptionRow(w io.Writer, s delivery.Subscription) {
	enabled := fmt.Sprint(s.Enabled)
	if s.DisabledReason != "" {
		enabled += " (" + s.DisabledReason + ")"
	}
	workflows, condition := "*", "-"
	if len(s.Workflows) > 0 {
		workflows = strings.Join(s.Workflows, ",")
	}
	if s.Condition != nil {
		condition = clipLine(conditionText(*s.Condition), 40)
	}
	headers := strings.Join(slices.Sorted(maps.Keys(s.Headers)), ",")
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, enabled, s.URL, strings.Join(s.Events, ","), workflows, condition, cmp.Or(headers, "-"), s.Description)
}

// conditionText is c as JSON on one line, as --condition takes it (jq's
// < and > as written).
func conditionText(c websend.Condition) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(c)
	return strings.TrimSpace(b.String())
}

func newSubscribeCmd(cfg *config) *cobra.Command {
	var flags subscriptionFlags
	var output outputFormat
	var disabled, allowDuplicate bool
	cmd := &cobra.Command{
		Use:   "subscribe --url URL",
		Short: "Subscribe a URL to the events of every workflow; prints its id and signing secret",
		Long: `Subscribe registers a URL that receives events of every workflow (or of the
--workflow ones), signed with a secret of its own. The secret is printed
once, now; header values are never printed. A running 'paperflow serve'
starts delivering at once, the events published from then on.

What it takes is checked as the API's POST /public/webhook/subscribe
checks it. A subscription with the same url, events, workflows and
condition as another is refused unless --allow-duplicate. A private or
loopback URL (a receiver on this machine) needs --webhook-allow here and on
the serve that delivers, e.g. --webhook-allow 127.0.0.1/32.`,
		Example: `  paperflow webhooks subscribe --url https://crm.example.com/hooks/paperflow
  paperflow webhooks subscribe --url https://x.example.com/in --event SIGNATURES_COMPLETED --description "sales CRM"
  paperflow webhooks subscribe --url https://erp.example.com/in --workflow invoices --workflow offers \
      --condition '.data.documents | length > 0' --header 'Authorization: Bearer abc123'
  paperflow webhooks subscribe --url https://x.example.com/in \
      --condition '{"any": [".metadata.workflow == \"invoices\"", ".eventType == \"SIGNATURES_COMPLETED\""]}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := flags.input(cmd.Flags())
			if err != nil {
				return err
			}
			enabled := !disabled
			in.Enabled, in.AllowDuplicate = &enabled, allowDuplicate
			return withBus(cmd, cfg, func(ctx context.Context, b *bus.Bus) error {
				store, err := openStore(ctx, cfg, b)
				if err != nil {
					return err
				}
				sub, err := store.Create(ctx, in)
				if err != nil {
					return subscriptionError(err)
				}
				return printSubscription(cmd.OutOrStdout(), sub, output)
			})
		},
	}
	f := cmd.Flags()
	flags.register(f, false)
	f.BoolVar(&disabled, "disabled", false, "create it disabled (enable it with: paperflow webhooks update ID --enable)")
	f.BoolVar(&allowDuplicate, "allow-duplicate", false, "create it even when one with the same url, events, workflows and condition exists")
	outputFlag(f, &output)
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

func newUpdateSubscriptionCmd(cfg *config) *cobra.Command {
	var flags subscriptionFlags
	var output outputFormat
	var enable, disable bool
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change a webhook subscription: only what the flags given say",
		Long: `Update changes the settings given and keeps the rest, as the API's
POST /public/webhook/subscription/{id} does, with the same checks. --header
replaces every header (their values cannot be read back, so give all of
them); --no-headers, --no-condition and --all-workflows drop a setting.
The secret stays the same and is not printed. Disabling deletes the
subscription's consumer; enabled again, it receives the events published
from then on.`,
		Example: `  paperflow webhooks update 3f0c…9a1b --disable
  paperflow webhooks update 3f0c…9a1b --enable --url https://crm.example.com/hooks/v2
  paperflow webhooks update 3f0c…9a1b --workflow invoices --condition '.data.documents | length > 0'
  paperflow webhooks update 3f0c…9a1b --header 'Authorization: Bearer new-token' --header 'X-Team: billing'
  paperflow webhooks update 3f0c…9a1b --all-workflows --no-condition --no-headers`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := flags.input(cmd.Flags())
			if err != nil {
				return err
			}
			if enable || disable {
				in.Enabled = &enable
			}
			if reflect.ValueOf(in).IsZero() {
				return errors.New("nothing to change: give at least one setting (see paperflow webhooks update --help)")
			}
			return withBus(cmd, cfg, func(ctx context.Context, b *bus.Bus) error {
				store, err := openStore(ctx, cfg, b)
				if err != nil {
					return err
				}
				sub, err := store.Update(ctx, args[0], in)
				if err != nil {
					return subscriptionError(err)
				}
				return printSubscription(cmd.OutOrStdout(), sub.Public(), output)
			})
		},
	}
	f := cmd.Flags()
	flags.register(f, true)
	f.BoolVar(&enable, "enable", false, "deliver to it again (clears the reason it was disabled)")
	f.BoolVar(&disable, "disable", false, "stop delivering to it; it is kept")
	outputFlag(f, &output)
	cmd.MarkFlagsMutuallyExclusive("enable", "disable")
	cmd.MarkFlagsMutuallyExclusive("workflow", "all-workflows")
	cmd.MarkFlagsMutuallyExclusive("condition", "no-condition")
	cmd.MarkFlagsMutuallyExclusive("header", "no-headers")
	return cmd
}

func newListSubscriptionsCmd(cfg *config) *cobra.Command {
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List webhook subscriptions (without their secrets and header values)",
		Long: `List shows every subscription: WORKFLOWS * is every workflow, HEADERS names
the headers sent (their values are not shown; -o json shows them as
"(hidden)"), and ENABLED says why paperflow disabled one.`,
		Example: `  paperflow webhooks list
  paperflow webhooks list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
				return printList(cmd.OutOrStdout(), output, subs, "no subscriptions",
					"ID\tENABLED\tURL\tEVENTS\tWORKFLOWS\tCONDITION\tHEADERS\tDESCRIPTION", printSubscriptionRow)
			})
		},
	}
	outputFlag(cmd.Flags(), &output)
	return cmd
}

func newUnsubscribeCmd(cfg *config) *cobra.Command {
	return &cobra.Command{
		Use:   "unsubscribe ID",
		Short: "Delete a webhook subscription (its attempt log and dead letters stay until they expire)",
		Example: `  paperflow webhooks unsubscribe 3f0c…9a1b
  paperflow webhooks update 3f0c…9a1b --disable   # to keep it, but send nothing`,
		Args: cobra.ExactArgs(1),
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
