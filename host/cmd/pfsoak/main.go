// Command pfsoak measures the memory of a paperflow host under load, and
// checks that the load arrived: every email exactly once, every webhook
// delivery exactly once.
//
// It starts its own SMTP server (with -mail outbox: reads the host's
// outbox instead) and webhook receiver, then bin/paperflow serve as a
// child process, and hands that host runs of a workflow that
// makes a Markdown → PDF receipt per item, emails it, and posts every
// event to the receiver. Every second it samples the host process (RSS,
// peak RSS, threads, open files), the host together with its block
// processes, and the host's /metrics when it serves one.
//
//	pfsoak -items 100000                 one run, then wait for every email and delivery
//	pfsoak -duration 5m -rate 200        a run of rate×interval items every interval
//
// It builds nothing: `make build` first. `make soak` runs short forms.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// options are the command line.
type options struct {
	bin         string
	items       int
	duration    time.Duration
	rate        int
	interval    time.Duration
	settle      time.Duration
	grace       time.Duration
	sampleEvery time.Duration
	workDir     string
	keep        bool
	mail        string // smtp or outbox
	profileDir  string // where a load run saves the host's heap profiles
}

// perRun is the number of items in each run of a soak.
func (o options) perRun() int { return int(math.Round(float64(o.rate) * o.interval.Seconds())) }

const usageText = `usage: pfsoak -items N | -duration D -rate R [flags]

pfsoak measures the memory of a paperflow host (bin/paperflow serve) under
load and checks that every email and webhook delivery arrived exactly once.

It starts, in this process, an SMTP server that counts messages by
Message-ID (or, with -mail outbox, reads the host's outbox) and a webhook
receiver that verifies signatures and counts deliveries by webhook-id; writes a workflow (json source → Markdown PDF
receipt → email with the PDF attached → webhook sink for DOCUMENTS_CREATED
and EMAILS_CREATED); starts 'paperflow serve' on a temporary data directory
and hands it runs with 'paperflow run'. Every second it samples the serve
process (VmRSS, VmHWM, threads, open fds), the RSS of serve plus its block
processes, and go_goroutines / process_resident_memory_bytes /
go_memstats_next_gc_bytes (the heap goal: twice the heap live after the
last GC, with GOGC=100) from the host's /metrics when it has one.

Modes:
  -items N                 one run of N items; prints items/s, peak RSS, RSS at
                           25/50/75/100% of the emails, emails and deliveries
  -duration D -rate R      a run of R×interval items every interval for D; prints
                           a table per minute and the growth from minute 1 to
                           the last minute

With -profile DIR a load run also saves heap profiles of the host (a GC
first) at 25/50/75/95/100% of the emails and once drained, and its goroutines:
'go tool pprof -base DIR/heap-25.pb.gz DIR/heap-100.pb.gz' shows what grew.

The host inherits pfsoak's environment: GOMEMLIMIT=200MiB or GOGC=50 in
front of pfsoak measures a host under that Go runtime setting (the report's
host CPU line shows what it costs), PAPERFLOW_MEMORY_LIMIT=off or =512MiB
one without serve's default soft memory limit or with another; the report
says which applied.

It builds nothing: run 'make build' first (bin/paperflow, bin/plugins/).
The exit code is 1 when an email or delivery is missing or duplicated, an
item failed, a delivery failed verification or the host died; 2 on usage
errors.

Flags:
`

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("pfsoak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin", "directory with paperflow and plugins/ (from make build)")
	fs.IntVar(&o.items, "items", 0, "load mode: items in one run")
	fs.DurationVar(&o.duration, "duration", 0, "soak mode: how long to keep handing runs")
	fs.IntVar(&o.rate, "rate", 100, "soak mode: items per second")
	fs.DurationVar(&o.interval, "interval", 5*time.Second, "soak mode: time between runs")
	fs.DurationVar(&o.settle, "settle", 3*time.Minute, "give up on missing emails and deliveries after this long without a new one")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "after everything arrived, wait this long for late duplicates")
	fs.DurationVar(&o.sampleEvery, "sample", time.Second, "sampling interval")
	fs.StringVar(&o.workDir, "workdir", "", "parent of the temporary directory (default: the system's)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (data dir, serve.log, workflow)")
	fs.StringVar(&o.profileDir, "profile", "", "load mode: save the host's heap profiles at 25/50/75/95/100% of the emails and at the end into this directory (serve's "+pprofEnv+")")
	fs.StringVar(&o.mail, "mail", "smtp", "where the host sends its mail: smtp (a server here counts it) or outbox (its spool in the data directory, counted there)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	case (o.items > 0) == (o.duration > 0):
		return o, errors.New("give either -items N or -duration D (see -h)")
	case o.duration > 0 && (o.rate <= 0 || o.interval < time.Second):
		return o, errors.New("-rate must be positive and -interval at least 1s")
	case o.duration > 0 && o.perRun() < 1:
		return o, errors.New("-rate × -interval gives runs of no items")
	case o.sampleEvery < 100*time.Millisecond:
		return o, errors.New("-sample must be at least 100ms")
	case o.profileDir != "" && o.items == 0:
		return o, errors.New("-profile needs -items")
	case o.mail != "smtp" && o.mail != "outbox":
		return o, fmt.Errorf("-mail %q: give smtp or outbox", o.mail)
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pfsoak:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pfsoak:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// run sets up the receivers and the host, runs the chosen mode and prints
// its report. ok is false when the load did not arrive exactly once.
func run(ctx context.Context, o options, out io.Writer) (ok bool, err error) {
	bin, err := filepath.Abs(filepath.Join(o.bin, "paperflow"))
	if err != nil {
		return false, err
	}
	plugins := filepath.Join(filepath.Dir(bin), "plugins")
	for _, p := range []string{bin, filepath.Join(plugins, "template"), filepath.Join(plugins, "email"), filepath.Join(plugins, "webhook"), filepath.Join(plugins, "json")} {
		if _, err := os.Stat(p); err != nil {
			return false, fmt.Errorf("%v: run 'make build' first (or point -bin at the build)", err)
		}
	}
	dir, err := os.MkdirTemp(o.workDir, "pfsoak-")
	if err != nil {
		return false, err
	}
	defer func() {
		if o.keep || !ok {
			fmt.Fprintf(out, "kept %s (serve.log, data/)\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()

	var mails *mailCounter
	if o.mail == "outbox" {
		mails = startOutboxCounter(filepath.Join(dir, "data", "outbox"))
	} else {
		var closeSMTP func()
		if mails, closeSMTP, err = startMailCounter(); err != nil {
			return false, err
		}
		defer closeSMTP()
	}
	hooks, closeHooks, err := startHookCounter()
	if err != nil {
		return false, err
	}
	defer closeHooks()

	w := &workload{dir: dir, hookURL: hooks.url, secret: hooks.secret}
	first := o.items
	if o.duration > 0 {
		first = o.perRun()
	}
	wfPath, err := w.write(first)
	if err != nil {
		return false, err
	}
	env := w.env()
	var prof *profiler
	if o.profileDir != "" {
		var profEnv string
		if prof, profEnv, err = newProfiler(o.profileDir); err != nil {
			return false, err
		}
		env = append(env, profEnv)
	}
	h, err := startHost(ctx, hostConfig{
		bin: bin, plugins: plugins, dir: dir, smtpURL: mails.url, workflow: wfPath, env: env,
	})
	if err != nil {
		return false, err
	}
	defer h.stop()
	fmt.Fprintf(out, "host pid %d on http://%s, mail to %s, webhooks %s\n", h.pid, h.httpAddr, mails.addr, hooks.url)

	s := &sampler{host: h, mails: mails, hooks: hooks, metrics: newMetricsClient(h.httpAddr, h.token), prof: prof}
	sctx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go s.loop(sctx, o.sampleEvery)

	r := &runner{host: h, work: w, mails: mails, hooks: hooks, sampler: s, prof: prof, o: o}
	if o.items > 0 {
		return r.load(ctx, wfPath, out)
	}
	return r.soak(ctx, wfPath, out)
}
