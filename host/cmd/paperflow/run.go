package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/bus"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/workflow"
)

func newRunCmd(cfg *config) *cobra.Command {
	var resume, output string
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a workflow file: every source item through every block",
		Long: `Run reads the workflow's source and runs every item through its blocks,
showing progress on a terminal and a summary at the end. The exit code is 1
when any item failed (the summary lists which and why) or the workflow file
is invalid (nothing runs then).

A run interrupted by a crash or Ctrl-C is resumed with --resume RUN_ID:
finished blocks are not redone and no event is published twice.`,
		Example: `  paperflow run workflows/hello.yaml
  paperflow run workflows/hello.yaml --output json
  paperflow run workflows/hello.yaml --resume 20261123-101500-1a2b3c4d`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: use text or json", output)
			}
			return runWorkflow(cmd.Context(), cfg, args[0], resume, output, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&resume, "resume", "", "resume the run with this id")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "summary format: text or json")
	return cmd
}

func runWorkflow(ctx context.Context, cfg *config, file, resume, output string, stdout, stderr io.Writer) error {
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()
	log := cfg.logger(stderr)
	secrets, err := workflow.LoadSecrets(cfg.secretFile, os.Environ())
	if err != nil {
		return err
	}
	cat := catalogFor(cfg, log)
	wf, problems := workflow.Load(file, cat, workflow.WithSecrets(secrets))
	if len(problems) > 0 {
		fmt.Fprintln(stderr, problems.Error())
		return &exitError{code: 1, err: fmt.Errorf("%s: %d problem(s); nothing was run", file, len(problems))}
	}
	bar := newProgressBar(stderr, output == "text")
	sum, handled, err := runOnHost(ctx, cfg, wf.File, resume, bar)
	if !handled && err == nil {
		sum, err = runStandalone(ctx, cfg, wf, secrets, resume, bar)
	}
	bar.done()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return &exitError{code: 130, err: fmt.Errorf("interrupted; resume with: paperflow run %s --resume %s", file, bar.runID)}
		}
		return err
	}
	if output == "json" {
		if err := printJSON(stdout, sum); err != nil {
			return err
		}
	} else {
		printSummary(stdout, sum)
	}
	if sum.Failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d items failed", sum.Failed, sum.Items)}
	}
	return nil
}

func runStandalone(ctx context.Context, cfg *config, wf *workflow.Workflow, secrets workflow.Secrets, resume string, bar *progressBar) (*engine.Summary, error) {
	b, e, err := cfg.openEngine(ctx, cfg.logger(os.Stderr), "")
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return e.Run(ctx, wf, engine.RunOptions{RunID: resume, Secrets: secrets, Progress: bar.update, OnStart: bar.start, Interruptible: true})
}

// runOnHost hands the run to a `paperflow serve` sharing this NATS, when
// one is running, and follows it. handled is false when no host answered.
func runOnHost(ctx context.Context, cfg *config, file, resume string, bar *progressBar) (*engine.Summary, bool, error) {
	url := cfg.natsURL
	if url == "" {
		st, ok := readServeState(cfg.dataDir)
		if !ok {
			return nil, false, nil
		}
		url = st.NATSURL
	}
	log := cfg.logger(os.Stderr)
	b, err := bus.Open(ctx, bus.Options{URL: url, Logger: log})
	if err != nil {
		return nil, false, err
	}
	defer b.Close()
	req, _ := json.Marshal(startRunRequest{File: file, Resume: resume})
	msg, err := b.NC.RequestWithContext(ctx, startRunSubject, req)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("hand the run to the host at %s: %w", url, err)
	}
	var reply startRunReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return nil, true, fmt.Errorf("host reply: %w", err)
	}
	if reply.Error != "" {
		return nil, true, fmt.Errorf("host refused the run: %s", reply.Error)
	}
	bar.start(reply.RunID)
	e, err := cfg.inspectEngine(ctx, b, log)
	if err != nil {
		return nil, true, err
	}
	sum, err := e.Follow(ctx, reply.RunID, bar.update)
	return sum, true, err
}

func printSummary(w io.Writer, s *engine.Summary) {
	fmt.Fprintf(w, "run %s of %s: %d items, %d succeeded, %d failed in %.1fs\n", s.RunID, s.Workflow, s.Items, s.Succeeded, s.Failed, s.Seconds)
	for _, t := range []string{"DOCUMENTS_CREATED", "EMAILS_CREATED", "SIGNATURES_REQUESTED", "SIGNATURES_COMPLETED"} {
		if n := s.Events[t]; n > 0 {
			fmt.Fprintf(w, "  %-22s %d\n", t, n)
		}
	}
	for _, e := range s.Errors {
		where := "item " + e.Item
		if e.Origin != "" {
			where += " (" + e.Origin + ")"
		}
		fmt.Fprintf(w, "  failed: %s: %s\n", where, e.Error)
	}
}

// progressBar draws one updating line on a terminal and nothing elsewhere.
type progressBar struct {
	w       io.Writer
	enabled bool
	runID   string
	last    time.Time
	drawn   bool
}

func newProgressBar(w io.Writer, text bool) *progressBar {
	enabled := false
	if f, ok := w.(*os.File); ok && text {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			enabled = true
		}
	}
	return &progressBar{w: w, enabled: enabled}
}

func (p *progressBar) start(id string) {
	p.runID = id
	fmt.Fprintf(p.w, "run %s started\n", id)
}

func (p *progressBar) update(pr engine.Progress) {
	if !p.enabled || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	total := fmt.Sprintf("%d", pr.Read)
	pct := ""
	if pr.SourceDone && pr.Read > 0 {
		pct = fmt.Sprintf(" %3d%%", pr.Done*100/pr.Read)
	} else {
		total += "+"
	}
	width := 30
	filled := 0
	if pr.Read > 0 {
		filled = int(pr.Done * int64(width) / pr.Read)
	}
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < filled {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.w, "\r[%s]%s %d/%s items, %d failed ", bar, pct, pr.Done, total, pr.Failed)
	p.drawn = true
}

func (p *progressBar) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
