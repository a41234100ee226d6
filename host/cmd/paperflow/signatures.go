package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/pluginhost"
)

// signatureRequest is the part of a signature block's request record (in
// the block state bucket, key <workflow>.<block>.req.<id>) the CLI shows.
type signatureRequest struct {
	Workflow   string    `json:"workflow"`
	Block      string    `json:"block"`
	ID         string    `json:"id"`
	RunID      string    `json:"run_id"`
	ItemID     string    `json:"item_id"`
	Status     string    `json:"status"`
	ExpiresAt  time.Time `json:"expires_at"`
	Recipients []struct {
		Email     string    `json:"email"`
		Order     int       `json:"order"`
		Status    string    `json:"status"`
		InvitedAt time.Time `json:"invited_at"`
		SignedAt  time.Time `json:"signed_at"`
	} `json:"recipients"`
}

func newSignaturesCmd(cfg *config) *cobra.Command {
	cmd := &cobra.Command{Use: "signatures", Short: "List signature requests and resend invitations"}
	var runID string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List signature requests (of one run with --run) and each recipient's status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := cfg.openBus(cmd.Context())
			if err != nil {
				return err
			}
			defer b.Close()
			reqs, err := signatureRequests(cmd.Context(), b, runID)
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
			reqs, err := signatureRequests(ctx, b, "")
			if err != nil {
				return err
			}
			for _, r := range reqs {
				if r.ID != args[0] {
					continue
				}
				for i, rc := range r.Recipients {
					if !strings.EqualFold(rc.Email, args[1]) {
						continue
					}
					e, err := cfg.inspectEngine(ctx, b, cfg.logger(cmd.ErrOrStderr()))
					if err != nil {
						return err
					}
					key := fmt.Sprintf("resend/%s/%d/%d", r.ID, i, time.Now().Unix())
					if err := e.Schedule(ctx, pluginhost.Instance{Workflow: r.Workflow, BlockID: r.Block}, key, time.Now(), nil); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "queued a new link for %s; a paperflow serve running workflow %s sends it\n", rc.Email, r.Workflow)
					return nil
				}
				return fmt.Errorf("request %s has no recipient %s", r.ID, args[1])
			}
			return fmt.Errorf("no signature request %s (see paperflow signatures list)", args[0])
		},
	}
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
	cmd.AddCommand(list, resend, links)
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

// signatureRequests reads the request records signature blocks keep.
func signatureRequests(ctx context.Context, b *bus.Bus, runID string) ([]signatureRequest, error) {
	kv, err := b.JS.KeyValue(ctx, bus.StateBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lister, err := kv.ListKeysFiltered(ctx, "*.*.req.*")
	if err != nil {
		return nil, err
	}
	var out []signatureRequest
	for key := range lister.Keys() {
		parts := strings.SplitN(key, ".", 4)
		ent, err := kv.Get(ctx, key)
		if err != nil {
			continue
		}
		var r signatureRequest
		if json.Unmarshal(ent.Value(), &r) != nil || (runID != "" && r.RunID != runID) {
			continue
		}
		r.Workflow, r.Block = parts[0], parts[1]
		out = append(out, r)
	}
	return out, nil
}
