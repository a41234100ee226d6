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
	var output string
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
	cmd.Flags().StringVarP(&output, "output", "o", "text", "summary format: text or json")
	return cmd
}

func newRestoreCmd(cfg *config) *cobra.Command {
	var (
		output string
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
	cmd.Flags().StringVarP(&output, "output", "o", "text", "summary format: text or json")
	return cmd
}

func backup(ctx context.Context, cfg *config, dir, output string, stdout, stderr io.Writer) error {
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
	if output == "json" {
		return printJSON(stdout, m)
	}
	var msgs uint64
	for _, s := range m.Streams {
		msgs += s.Messages
	}
	fmt.Fprintf(stdout, "backed up %d streams (%d messages) to %s\n", len(m.Streams), msgs, dir)
	return nil
}

func restore(ctx context.Context, cfg *config, dir string, force bool, output string, stdout, stderr io.Writer) error {
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
	if output == "json" {
		return printJSON(stdout, struct {
			Streams []bus.StreamSnapshot `json:"streams"`
		}{restored})
	}
	var msgs uint64
	for _, s := range restored {
		msgs += s.Messages
	}
	fmt.Fprintf(stdout, "restored %d streams (%d messages) from %s\n", len(restored), msgs, dir)
	return nil
}

// progressTo writes progress lines for the person waiting.
func progressTo(w io.Writer) bus.Progress {
	return func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
}
