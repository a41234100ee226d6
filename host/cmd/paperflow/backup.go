package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/bus"
)

func newBackupCmd(cfg *config) *cobra.Command {
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "backup DIR",
		Short: "Snapshot every NATS stream, KV bucket and the object store into DIR",
		Long: `Backup takes a JetStream snapshot of every stream on paperflow's NATS:
the item queue, outcomes, events, webhook logs, every KV bucket (runs,
checkpoints, block state, host settings with the document signing key,
webhook subscriptions) and the object store of documents, with their
consumers. 'paperflow restore DIR' brings them back.

It uses the running 'paperflow serve' of the data directory when there is
one, --nats when set, else opens the embedded store in the data directory.`,
		Example: `  paperflow backup backups/$(date +%F)
  paperflow --nats nats://n1:4222,nats://n2:4222 backup /srv/paperflow-backup --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return backup(cmd.Context(), cfg, args[0], output, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	outputFlag(cmd.Flags(), &output)
	return cmd
}

func newRestoreCmd(cfg *config) *cobra.Command {
	var (
		output outputFormat
		force  bool
	)
	cmd := &cobra.Command{
		Use:   "restore DIR",
		Short: "Bring back every stream, KV bucket and the object store from a backup",
		Long: `Restore puts back the streams of a backup taken with 'paperflow backup'.
A stream that exists and holds messages is not touched unless --force is
given: then it is deleted first, with everything it holds, and the backup
takes its place. Stop every 'paperflow serve' on this NATS first.`,
		Example: `  paperflow restore backups/2025-01-31
  paperflow restore backups/2025-01-31 --force   # replace a damaged store`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return restore(cmd.Context(), cfg, args[0], force, output, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete streams that hold messages and put the backup's in their place")
	outputFlag(cmd.Flags(), &output)
	return cmd
}

func backup(ctx context.Context, cfg *config, dir string, output outputFormat, stdout, stderr io.Writer) error {
	if cfg.natsURL == "" {
		if _, running := readServeState(cfg.dataDir); !running {
			if _, err := os.Stat(filepath.Join(cfg.dataDir, "nats")); err != nil {
				return fmt.Errorf("no NATS store in the data directory %s: nothing to back up (set --data-dir, or --nats for an external server)", cfg.dataDir)
			}
		}
	}
	b, err := cfg.openBus(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	m, err := b.Backup(ctx, dir, progressTo(stderr))
	if err != nil {
		return err
	}
	if output.json() {
		return printJSON(stdout, m)
	}
	_, err = fmt.Fprintf(stdout, "backed up %s to %s\n", streamsAndMessages(m.Streams), dir)
	return err
}

func restore(ctx context.Context, cfg *config, dir string, force bool, output outputFormat, stdout, stderr io.Writer) error {
	if cfg.natsURL == "" {
		if st, running := readServeState(cfg.dataDir); running {
			return fmt.Errorf("paperflow serve (pid %d) is running on the data directory %s: stop it, then restore", st.PID, cfg.dataDir)
		}
	} else {
		fmt.Fprintln(stderr, "note: stop every paperflow serve on this NATS before restoring")
	}
	b, err := cfg.openBus(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	restored, err := b.Restore(ctx, dir, force, progressTo(stderr))
	if errors.Is(err, bus.ErrStreamNotEmpty) {
		return &exitError{code: 1, err: err}
	}
	if err != nil {
		return err
	}
	if output.json() {
		return printJSON(stdout, struct {
			Streams []bus.StreamSnapshot `json:"streams"`
		}{restored})
	}
	_, err = fmt.Fprintf(stdout, "restored %s from %s\n", streamsAndMessages(restored), dir)
	return err
}

// streamsAndMessages counts snapshots for people: "1 stream (0
// messages)", "3 streams (1 message)".
func streamsAndMessages(snaps []bus.StreamSnapshot) string {
	var msgs uint64
	for _, s := range snaps {
		msgs += s.Messages
	}
	return fmt.Sprintf("%s (%s)", countOf(uint64(len(snaps)), "stream"), countOf(msgs, "message"))
}

// countOf is n and noun, plural unless n is 1.
func countOf(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// progressTo writes progress lines for the person waiting.
func progressTo(w io.Writer) bus.Progress {
	return func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
}
