package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/plugins/signature/requests"
)

// signatureRequest is a request as a signature block's host-only route
// GET api/requests answers it. --json prints the block's answer as it
// came, so it keeps fields this type does not name.
type signatureRequest struct {
	requests.Request
	Raw json.RawMessage `json:"-"`
}

// MarshalJSON prints the block's own answer.
func (r signatureRequest) MarshalJSON() ([]byte, error) { return r.Raw, nil }

func newSignaturesCmd(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "signatures", Short: "List signature requests, resend invitations, cancel requests"}
	var runID, itemID string
	var asJSON bool
	var output outputFormat
	list := &cobra.Command{
		Use:   "list",
		Short: "List signature requests (of one run with --run) and each recipient's status",
		Long: `List asks the signature block of every deployed workflow and of every run
kept for its requests, with each recipient's email, signing order and
status. A --run that is not kept is refused; a run or item without
requests prints a note (-o json prints []).`,
		Example: `  paperflow signatures list
  paperflow signatures list --run 20261123-101500-1a2b3c4d
  paperflow signatures list --item 7 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				output = "json"
			}
			return withSignatureBlocks(cmd, cfg, runID, func(ctx context.Context, blocks *signatureBlocks) error {
				reqs, err := blocks.requests(ctx, runID, itemID)
				if err != nil {
					return err
				}
				return printList(cmd.OutOrStdout(), output, reqs, noSignatureRequests(runID, itemID),
					"REQUEST\tWORKFLOW/BLOCK\tRUN\tITEM\tSTATUS\tRECIPIENTS", printSignatureRequest)
			})
		},
	}
	list.Flags().StringVar(&runID, "run", "", "only the requests of this run")
	list.Flags().StringVar(&itemID, "item", "", "only the requests of this item")
	list.Flags().BoolVar(&asJSON, "json", false, "print the requests as JSON (as --output json)")
	outputFlag(list.Flags(), &output)
	resend := &cobra.Command{
		Use:   "resend REQUEST EMAIL",
		Short: "Send a recipient a fresh signing link (delivered by the running paperflow serve)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSignatureBlocks(cmd, cfg, "", func(ctx context.Context, blocks *signatureBlocks) error {
				ans, err := blocks.resend(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "queued a new link for %s; a paperflow serve running workflow %s sends it\n", ans.Email, ans.Workflow)
				return nil
			})
		},
	}
	var reason string
	cancel := &cobra.Command{
		Use:   "cancel REQUEST",
		Short: "Cancel a pending signature request: its links stop working and SIGNATURES_CANCELLED is sent",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withSignatureBlocks(cmd, cfg, "", func(ctx context.Context, blocks *signatureBlocks) error {
				ans, err := blocks.cancel(ctx, args[0], reason)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "cancelled request %s of workflow %s at %s\n", ans.Request, ans.Workflow, ans.CancelledAt.Format(time.RFC3339))
				return nil
			})
		},
	}
	cancel.Flags().StringVar(&reason, "reason", "", "why, for the recipients' page and the event (at most 500 characters)")
	var linksRun string
	links := &cobra.Command{
		Use:   "links",
		Short: "Print each signer's link from the SIGNATURES_REQUESTED events of the newest run (or --run)",
		Long: `Links prints the signing link of every recipient, read from the
SIGNATURES_REQUESTED events kept in NATS, by item and signing order. The
pages behind the links are served by 'paperflow serve' with the workflow
file loaded. A --run that is not kept is refused.`,
		Example: `  paperflow signatures links
  paperflow signatures links --run 20261123-101500-1a2b3c4d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cfg.withBus(cmd, func(ctx context.Context, b *bus.Bus) error {
				if linksRun != "" {
					e, err := cfg.inspectEngine(ctx, b, cfg.logger(cmd.ErrOrStderr()))
					if err != nil {
						return err
					}
					if _, err := e.RunRecord(ctx, linksRun); err != nil {
						return err
					}
				}
				return printSigningLinks(ctx, b, linksRun, cmd.OutOrStdout())
			})
		},
	}
	links.Flags().StringVar(&linksRun, "run", "", "only the links of this run")
	cmd.AddCommand(list, resend, cancel, links)
	return cmd
}

// withSignatureBlocks runs fn on the signature blocks (of runID's
// workflow only, when set), started for the length of one command.
func withSignatureBlocks(cmd *cobra.Command, cfg *config, runID string, fn func(ctx context.Context, blocks *signatureBlocks) error) error {
	return cfg.withBus(cmd, func(ctx context.Context, b *bus.Bus) error {
		blocks, err := startSignatureBlocks(ctx, cfg, b, runID, cfg.logger(cmd.ErrOrStderr()))
		if err != nil {
			return err
		}
		defer blocks.close()
		return fn(ctx, blocks)
	})
}

// noSignatureRequests is the note signatures list prints when nothing
// matches its filters.
func noSignatureRequests(runID, itemID string) string {
	switch {
	case runID != "" && itemID != "":
		return fmt.Sprintf("no signature requests for item %s of run %s", itemID, runID)
	case runID != "":
		return "no signature requests for run " + runID
	case itemID != "":
		return "no signature requests for item " + itemID
	}
	return "no signature requests kept; a run of a workflow with a signature block makes them"
}

// printSignatureRequest is a request's row in the signatures list table.
func printSignatureRequest(w io.Writer, r signatureRequest) {
	who := make([]string, 0, len(r.Recipients))
	for _, rc := range r.Recipients {
		who = append(who, fmt.Sprintf("%s(%d):%s", rc.Email, rc.Order, rc.Status))
	}
	fmt.Fprintf(w, "%s\t%s/%s\t%s\t%s\t%s\t%s\n", r.ID, r.Workflow, r.Block, r.RunID, r.ItemID, r.Status, strings.Join(who, " "))
}

// signingLink is one recipient's link, from a SIGNATURES_REQUESTED event.
type signingLink struct {
	run, item, email, url string
	order                 int
}

// printSigningLinks reads every SIGNATURES_REQUESTED event kept and prints
// one line per recipient of runID, or of the newest run, ordered by item
// and signing order.
func printSigningLinks(ctx context.Context, b *bus.Bus, runID string, w io.Writer) error {
	cons, err := b.JS.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"paperflow.events.*." + string(events.SignaturesRequested)},
	})
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	var rows []signingLink
	newest := ""
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			return fmt.Errorf("read events: %w", err)
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
				rows = append(rows, signingLink{env.Metadata.RunID, env.Metadata.ItemID, r.Email, r.SignatureURL, r.Order})
			}
			newest = max(newest, env.Metadata.RunID) // run ids sort by time
		}
		if n == 0 {
			break
		}
	}
	if runID == "" {
		rows = slices.DeleteFunc(rows, func(r signingLink) bool { return r.run != newest })
	}
	slices.SortStableFunc(rows, func(a, b signingLink) int {
		return cmp.Or(compareItems(a.item, b.item), cmp.Compare(a.order, b.order), strings.Compare(a.email, b.email))
	})
	none := "no signing links kept; a run of a workflow with a signature block makes them"
	if runID != "" {
		none = "no signing links for run " + runID
	}
	return printList(w, "text", rows, none, "RUN\tITEM\tORDER\tEMAIL\tLINK", func(w io.Writer, r signingLink) {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", r.run, r.item, r.order, r.email, r.url)
	})
}

// compareItems orders item ids: a source's items by number (2 before
// 10), the random ids of triggered items after them, by text.
func compareItems(a, b string) int {
	na, nb := isNumber(a), isNumber(b)
	switch {
	case na && nb:
		return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
	case na != nb:
		if na {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func isNumber(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == "" && (s == "0" || s[0] != '0')
}
