package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/workflow"
)

func newRunCmd(cfg *config) *cobra.Command {
	var resume, memLimit string
	var output outputFormat
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
			if err := applyMemoryLimit(cmd.Context(), memLimit, cfg.logger(cmd.ErrOrStderr())); err != nil {
				return err
			}
			return runWorkflow(cmd.Context(), cfg, args[0], resume, output, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&resume, "resume", "", "resume the run with this id")
	outputFlag(cmd.Flags(), &output)
	memoryLimitFlag(cmd.Flags(), &memLimit)
	return cmd
}

func runWorkflow(ctx context.Context, cfg *config, file, resume string, output outputFormat, stdout, stderr io.Writer) error {
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
	bar := newProgressBar(stderr, !output.json())
	sum, handled, err := runOnHost(ctx, cfg, wf, resume, bar)
	if !handled && err == nil {
		sum, err = runStandalone(ctx, cfg, wf, secrets, resume, bar)
	}
	bar.done()
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, engine.ErrInterrupted) {
			return &exitError{code: 130, err: fmt.Errorf("interrupted; resume with: paperflow run %s --resume %s", file, bar.runID)}
		}
		return err
	}
	if output.json() {
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
	log := cfg.logger(os.Stderr)
	wf, version, err := runVersion(ctx, cfg.deployStore(e.Store(), log), e, wf, resume, secrets)
	if err != nil {
		return nil, err
	}
	return e.Run(ctx, wf, engine.RunOptions{RunID: resume, Secrets: secrets, Progress: bar.update, OnStart: bar.start, Interruptible: true, Version: version})
}

// runVersion is the deployed version a run works on, so that every host
// that joins it loads the same files: a resumed run's own version, else
// the workflow file deployed (a no-op when its content is current).
func runVersion(ctx context.Context, store *deploy.Store, e *engine.Engine, wf *workflow.Workflow, resume string, secrets workflow.Secrets) (*workflow.Workflow, string, error) {
	if resume != "" {
		rec, err := e.RunRecord(ctx, resume)
		if err != nil {
			return nil, "", err
		}
		if rec.Version != "" {
			v, _, err := store.Load(ctx, rec.Workflow, rec.Version, workflow.WithSecrets(secrets))
			return v, rec.Version, err
		}
		return wf, "", nil // a run from before workflows were deployed
	}
	res, err := store.DeployFile(ctx, wf, deployer())
	if err != nil {
		return nil, "", fmt.Errorf("deploy %s: %w", wf.File, err)
	}
	if !res.Unchanged {
		printDeployed(os.Stderr, os.Stderr, res)
	}
	return wf, res.Version, nil
}

// runOnHost hands the run to a `paperflow serve` sharing this NATS, when
// one is running, and follows it. handled is false when no host answered.
// What it hands over is a deployed version, never a path: the workflow
// file is deployed first (a resume names its run, whose record holds the
// version), so any host on the NATS runs it with no files of its own.
func runOnHost(ctx context.Context, cfg *config, wf *workflow.Workflow, resume string, bar *progressBar) (*engine.Summary, bool, error) {
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
	closeBus := b.Close
	defer func() { closeBus() }()
	req, err := handOver(ctx, cfg, b, wf, resume)
	if err != nil {
		return nil, true, err
	}
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
	start := time.Now()
	f := &follower{cfg: cfg, log: log, bus: b, url: url, runID: reply.RunID, bar: bar}
	closeBus = func() { f.bus.Close() } // the follower may move to another NATS
	sum, err := f.follow(ctx)
	if sum != nil {
		sum.Seconds = time.Since(start).Seconds()
	}
	return sum, true, err
}

// handOver is the request that hands a run to a host: the workflow's
// name and deployed version (deployed here first), or for a resume the
// run, whose record holds its version.
func handOver(ctx context.Context, cfg *config, b *bus.Bus, wf *workflow.Workflow, resume string) ([]byte, error) {
	if resume != "" {
		// A run from before workflows were deployed has only its file.
		return json.Marshal(startRunRequest{File: wf.File, Resume: resume})
	}
	s, err := b.EnsureStore(ctx)
	if err != nil {
		return nil, err
	}
	res, err := cfg.deployStore(s, cfg.logger(os.Stderr)).DeployFile(ctx, wf, deployer())
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w", wf.File, err)
	}
	if !res.Unchanged {
		printDeployed(os.Stderr, os.Stderr, res)
	}
	return json.Marshal(startRunRequest{Workflow: res.Name, Version: res.Version})
}

// follower follows a run handed to a host until the run ends. The host
// may be the NATS server too (serve's embedded NATS): when it dies, a
// host started again on the same data directory serves the run's state
// from a NATS on another port, and the follower moves there.
type follower struct {
	cfg   *config
	log   *slog.Logger
	bus   *bus.Bus
	url   string
	runID string
	bar   *progressBar
}

// hostMoved stops following on a NATS that is gone: the data directory
// names a live host on the NATS at url.
type hostMoved struct{ url string }

func (h *hostMoved) Error() string { return "the host's NATS moved to " + bus.RedactURL(h.url) }

func (f *follower) follow(ctx context.Context) (*engine.Summary, error) {
	for {
		e, err := f.cfg.inspectEngine(ctx, f.bus, f.log)
		if err != nil {
			return nil, err
		}
		fctx, cancel := context.WithCancelCause(ctx)
		go watchHost(fctx, cancel, f.cfg, f.bus, f.url)
		sum, err := e.Follow(fctx, f.runID, f.bar.update)
		var moved *hostMoved
		movedAway := errors.As(context.Cause(fctx), &moved)
		cancel(nil)
		switch {
		case ctx.Err() != nil:
			return f.interrupt(e)
		case movedAway:
			if err := f.reconnect(ctx, moved.url); err != nil {
				return nil, err
			}
		default:
			return sum, err
		}
	}
}

// watchHost stops a follow on b, connected to url, when that NATS is out
// of reach and the data directory names a live host on another NATS.
func watchHost(ctx context.Context, stop context.CancelCauseFunc, cfg *config, b *bus.Bus, url string) {
	if cfg.natsURL != "" {
		return // a NATS given by --nats: its client reconnects by itself
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if b.NC.IsConnected() {
			continue
		}
		if st, ok := readServeState(cfg.dataDir); ok && st.NATSURL != url {
			stop(&hostMoved{url: st.NATSURL})
			return
		}
	}
}

// reconnect moves the follower to the NATS at url.
func (f *follower) reconnect(ctx context.Context, url string) error {
	f.log.Info("the run's host restarted; following the run there", "run", f.runID, "nats", bus.RedactURL(url))
	b, err := bus.Open(ctx, bus.Options{URL: url, Logger: f.log})
	if err != nil {
		return fmt.Errorf("follow run %s at %s: %w", f.runID, bus.RedactURL(url), err)
	}
	f.bus.Close()
	f.bus, f.url = b, url
	return nil
}

// interruptTimeout bounds recording a Ctrl-C after the command's context
// has ended.
const interruptTimeout = 10 * time.Second

// interrupt records the run interrupted after Ctrl-C, unless a host
// completed or failed it meanwhile: then that is how the run ended and
// what is reported.
func (f *follower) interrupt(e *engine.Engine) (*engine.Summary, error) {
	if !f.bus.NC.IsConnected() {
		f.log.Warn("could not record the run interrupted: its NATS is out of reach; hosts may carry on with it", "run", f.runID)
		return nil, context.Canceled
	}
	ctx, cancel := context.WithTimeout(context.Background(), interruptTimeout)
	defer cancel()
	sum, err := e.Interrupt(ctx, f.runID)
	if err != nil && !errors.Is(err, engine.ErrInterrupted) && !errors.Is(err, engine.ErrRunFailed) {
		f.log.Warn("could not record the run interrupted; hosts may carry on with it", "run", f.runID, "err", err)
		return nil, context.Canceled
	}
	return sum, err
}

func printSummary(w io.Writer, s *engine.Summary) {
	fmt.Fprintf(w, "run %s of %s: %d items, %d succeeded, %d failed in %.1fs\n", s.RunID, s.Workflow, s.Items, s.Succeeded, s.Failed, s.Seconds)
	// Every type the schemas define, so a new one is counted without a
	// change here.
	for _, t := range events.Types {
		if n := s.Events[string(t)]; n > 0 {
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
