package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/events"
)

// signatureRequest is a request as a signature block's host-only route
// GET api/requests answers it. --json prints the block's answer as it
// came, so it keeps fields this type does not name.
type signatureRequest struct {
	Workflow   string          `json:"workflow"`
	Block      string          `json:"block"`
	ID         string          `json:"id"`
	RunID      string          `json:"run_id"`
	ItemID     string          `json:"item_id"`
	Status     string          `json:"status"`
	ExpiresAt  time.Time       `json:"expires_at"`
	Raw        json.RawMessage `json:"-"`
	Recipients []struct {
		Email  string `json:"email"`
		Order  int    `json:"order"`
		Status string `json:"status"`
	} `json:"recipients"`
}

// MarshalJSON prints the block's own answer.
func (r signatureRequest) MarshalJSON() ([]byte, error) { return r.Raw, nil }

func newSignaturesCmd(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "signatures", Short: "List signature requests, resend invitations, cancel requests"}
	var runID, itemID string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List signature requests (of one run with --run) and each recipient's status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			b, err := cfg.openBus(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			blocks, err := startSignatureBlocks(ctx, cfg, b, runID, cfg.logger(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			defer blocks.close()
			reqs, err := blocks.requests(ctx, runID, itemID)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, reqs)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REQUEST\tWORKFLOW/BLOCK\tRUN\tITEM\tSTATUS\tRECIPIENTS")
			for _, r := range reqs {
				var who []string
				for _, rc := range r.Recipients {
					who = append(who, fmt.Sprintf("%s(%d):%s", rc.Email, rc.Order, rc.Status))
				}
				fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%s\t%s\n", r.ID, r.Workflow, r.Block, r.RunID, r.ItemID, r.Status, strings.Join(who, " "))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&runID, "run", "", "only the requests of this run")
	list.Flags().StringVar(&itemID, "item", "", "only the requests of this item")
	list.Flags().BoolVar(&asJSON, "json", false, "print the requests as JSON")
	resend := &cobra.Command{
		Use:   "resend REQUEST EMAIL",
		Short: "Send a recipient a fresh signing link (delivered by the running paperflow serve)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			b, err := cfg.openBus(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			blocks, err := startSignatureBlocks(ctx, cfg, b, "", cfg.logger(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			defer blocks.close()
			ans, err := blocks.resend(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "queued a new link for %s; a paperflow serve running workflow %s sends it\n", ans.Email, ans.Workflow)
			return nil
		},
	}
	var reason string
	cancel := &cobra.Command{
		Use:   "cancel REQUEST",
		Short: "Cancel a pending signature request: its links stop working and SIGNATURES_CANCELLED is sent",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			b, err := cfg.openBus(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			blocks, err := startSignatureBlocks(ctx, cfg, b, "", cfg.logger(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			defer blocks.close()
			ans, err := blocks.cancel(ctx, args[0], reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cancelled request %s of workflow %s at %s\n", ans.Request, ans.Workflow, ans.CancelledAt.Format(time.RFC3339))
			return nil
		},
	}
	cancel.Flags().StringVar(&reason, "reason", "", "why, for the recipients' page and the event (at most 500 characters)")
	var linksRun string
	links := &cobra.Command{
		Use:   "links",
		Short: "Print each signer's link from the SIGNATURES_REQUESTED events of the newest run (or --run)",
		Long: `Links prints the signing link of every recipient, read from the
SIGNATURES_REQUESTED events kept in NATS. The pages behind the links are
served by 'paperflow serve' with the workflow file loaded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			b, err := cfg.openBus(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			return printSigningLinks(ctx, b, linksRun, cmd.OutOrStdout())
		},
	}
	links.Flags().StringVar(&linksRun, "run", "", "only the links of this run")
	cmd.AddCommand(list, resend, cancel, links)
	return cmd
}

// printSigningLinks reads every SIGNATURES_REQUESTED event kept and prints
// one line per recipient.
func printSigningLinks(ctx context.Context, b *bus.Bus, runID string, w io.Writer) error {
	cons, err := b.JS.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"paperflow.events.*." + string(events.SignaturesRequested)},
	})
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	type row struct {
		run, item, email, url string
		order                 int
	}
	var rows []row
	newest := ""
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			return err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var env struct {
				Data struct {
					Recipients []struct {
						Email        string `json:"email"`
						Order        int    `json:"order"`
						SignatureURL string `json:"signature_url"`
					} `json:"recipients"`
				} `json:"data"`
				Metadata events.Metadata `json:"metadata"`
			}
			if json.Unmarshal(m.Data(), &env) != nil || (runID != "" && env.Metadata.RunID != runID) {
				continue
			}
			for _, r := range env.Data.Recipients {
				rows = append(rows, row{env.Metadata.RunID, env.Metadata.ItemID, r.Email, r.SignatureURL, r.Order})
			}
			newest = max(newest, env.Metadata.RunID) // run ids sort by time
		}
		if n == 0 {
			break
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tITEM\tORDER\tEMAIL\tLINK")
	for _, r := range rows {
		if runID == "" && r.run != newest {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.run, r.item, r.order, r.email, r.url)
	}
	return tw.Flush()
}
