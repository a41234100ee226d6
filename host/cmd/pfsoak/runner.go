package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// runner drives one of the two modes against a started host.
type runner struct {
	host    *host
	work    *workload
	mails   *mailCounter
	hooks   *hookCounter
	sampler *sampler
	prof    *profiler // nil: no profiles
	o       options
}

// progressEvery is how often a long wait prints where it is.
const progressEvery = 30 * time.Second

// load hands one run of o.items items and waits for all of it to arrive.
func (r *runner) load(ctx context.Context, wfPath string, out io.Writer) (bool, error) {
	n := r.o.items
	fmt.Fprintf(out, "load: one run of %d items (template → email → webhook)\n", n)
	idle, _ := r.sampler.take()
	if r.prof != nil {
		r.prof.expect(n)
	}
	t0 := time.Now()
	r.sampler.handed.Add(int64(n))
	done := make(chan runResult, 1)
	go func() { done <- r.host.handRun(ctx, wfPath, n) }()
	stopProgress := r.printProgress(ctx, out, t0, n)
	var res runResult
	select {
	case res = <-done:
	case <-ctx.Done():
		stopProgress()
		return false, ctx.Err()
	}
	complete := r.await(ctx, out, []runResult{res}, n)
	stopProgress()
	last, _ := r.sampler.take()

	ms, hs := r.mails.snapshot(), r.hooks.snapshot()
	fmt.Fprintln(out)
	fmt.Fprintf(out, "items:          %d in one run\n", n)
	if !ms.Last.IsZero() {
		took := ms.Last.Sub(t0)
		fmt.Fprintf(out, "throughput:     %.1f items/s (handed → last email %s)", float64(ms.Unique)/took.Seconds(), took.Round(100*time.Millisecond))
		if res.sum.Seconds > 0 {
			fmt.Fprintf(out, "; the host's own run time %.1fs, %.1f items/s", res.sum.Seconds, float64(res.sum.Items)/res.sum.Seconds)
		}
		fmt.Fprintln(out)
	}
	if !hs.Last.IsZero() {
		fmt.Fprintf(out, "deliveries:     last one %s after the run was handed\n", hs.Last.Sub(t0).Round(100*time.Millisecond))
	}
	samples := r.sampler.all()
	peakTree, peakRSS := int64(0), int64(0)
	for _, s := range samples {
		peakTree = max(peakTree, s.TreeRSS)
		peakRSS = max(peakRSS, s.Host.RSS)
	}
	fmt.Fprintf(out, "peak RSS:       host %s (VmHWM; sampled max %s), host+plugins %s (sampled)\n", mib(last.Host.HWM), mib(peakRSS), mib(peakTree))
	if cpu := last.Host.CPU - idle.Host.CPU; cpu > 0 {
		fmt.Fprintf(out, "host CPU:       %.1fs user+system, %.2f ms per item\n", cpu.Seconds(), float64(cpu.Microseconds())/1000/float64(n))
	}
	fmt.Fprintf(out, "memory limit:   %s\n", memoryLimitSetting())
	fmt.Fprintln(out)

	rows := []pointRow{{"idle", idle}}
	for _, q := range []int{25, 50, 75, 100} {
		want := (n*q + 99) / 100
		for _, s := range samples {
			if s.Emails >= want {
				rows = append(rows, pointRow{fmt.Sprintf("%d%% emails", q), s})
				break
			}
		}
	}
	rows = append(rows, pointRow{"end", last})
	printPoints(out, t0, rows)
	if q25, q100, ok := quarterAndAll(rows, func(s sample) int64 { return s.Host.RSS }); ok {
		fmt.Fprintf(out, "RSS host at 100%% / at 25%% of the emails: %.2f\n", float64(q100)/float64(q25))
	}
	if q25, q100, ok := quarterAndAll(rows, func(s sample) int64 { return s.HeapGoal }); ok {
		fmt.Fprintf(out, "heap goal at 100%% / at 25%% of the emails: %.2f\n", float64(q100)/float64(q25))
	}
	if r.prof != nil {
		for _, err := range r.prof.final() {
			fmt.Fprintln(out, "profile:", err)
		}
		fmt.Fprintf(out, "heap profiles:  %s (go tool pprof -base heap-25.pb.gz heap-100.pb.gz)\n", r.prof.dir)
	}
	fmt.Fprintln(out)
	return r.verdict(out, []runResult{res}, n, complete), nil
}

// memoryLimitSetting says which soft memory limit the host ran under: the
// environment it inherited decides (see paperflow serve --memory-limit).
func memoryLimitSetting() string {
	for _, name := range []string{"GOMEMLIMIT", "PAPERFLOW_MEMORY_LIMIT"} {
		if v := os.Getenv(name); v != "" {
			return name + "=" + v
		}
	}
	return "serve's default (--memory-limit)"
}

// quarterAndAll finds a figure of the host (RSS, heap goal) at 25% and at
// 100% of the emails among the load report's rows.
func quarterAndAll(rows []pointRow, of func(sample) int64) (q25, q100 int64, ok bool) {
	for _, r := range rows {
		switch r.name {
		case "25% emails":
			q25 = of(r.s)
		case "100% emails":
			q100 = of(r.s)
		}
	}
	return q25, q100, q25 > 0 && q100 > 0
}

// soak hands a run of rate×interval items every interval for the
// duration, then waits for the last of it to arrive.
func (r *runner) soak(ctx context.Context, firstWF string, out io.Writer) (bool, error) {
	per := r.o.perRun()
	fmt.Fprintf(out, "soak: %d items every %s (%d items/s) for %s\n", per, r.o.interval, r.o.rate, r.o.duration)
	r.sampler.take()
	t0 := time.Now()
	deadline := t0.Add(r.o.duration)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []runResult
	)
	hand := func(wf string) {
		r.sampler.handed.Add(int64(per))
		wg.Go(func() {
			res := r.host.handRun(ctx, wf, per)
			mu.Lock()
			results = append(results, res)
			mu.Unlock()
		})
	}
	stopProgress := r.printProgress(ctx, out, t0, 0)
	defer stopProgress()
	hand(firstWF)
	tick := time.NewTicker(r.o.interval)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-tick.C:
			if !now.Before(deadline) {
				break loop
			}
			if !r.host.alive() {
				break loop
			}
			wf, err := r.work.write(per)
			if err != nil {
				tick.Stop()
				return false, err
			}
			hand(wf)
		}
	}
	tick.Stop()
	handedAll := time.Now()
	wg.Wait()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	total := int(r.sampler.handed.Load())
	mu.Lock()
	res := append([]runResult(nil), results...)
	mu.Unlock()
	complete := r.await(ctx, out, res, total)
	stopProgress()
	last, _ := r.sampler.take()

	fmt.Fprintln(out)
	ms := r.mails.snapshot()
	var runSeconds float64
	for _, x := range res {
		runSeconds = max(runSeconds, x.took.Seconds())
	}
	fmt.Fprintf(out, "handed:         %d runs, %d items in %s; the slowest run took %.1fs to finish\n", len(res), total, handedAll.Sub(t0).Round(time.Second), runSeconds)
	if !ms.Last.IsZero() {
		fmt.Fprintf(out, "throughput:     %.1f items/s over the soak (last email %s after the first run was handed)\n",
			float64(ms.Unique)/ms.Last.Sub(t0).Seconds(), ms.Last.Sub(t0).Round(time.Second))
	}
	fmt.Fprintf(out, "peak RSS:       host %s (VmHWM)\n\n", mib(last.Host.HWM))
	minutes := perMinute(r.sampler.all(), t0, deadline)
	printMinutes(out, minutes)
	printGrowth(out, minutes, last)
	fmt.Fprintln(out)
	return r.verdict(out, res, total, complete), nil
}

// await waits until every email and delivery of want items has arrived,
// then o.grace longer for late duplicates. It gives up when nothing new
// arrives for o.settle, or the host dies; complete says whether all came.
func (r *runner) await(ctx context.Context, out io.Writer, results []runResult, want int) bool {
	settle := r.o.settle
	for _, res := range results {
		if res.err != nil || res.sum.Failed > 0 {
			// Some of it will never come; wait only for stragglers.
			settle = min(settle, 15*time.Second)
		}
	}
	lastE, lastD := -1, -1
	lastChange := time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		e, d := r.mails.snapshot().Unique, r.hooks.snapshot().Unique
		if e >= want && d >= want*eventsPerItem {
			break
		}
		if e != lastE || d != lastD {
			lastE, lastD, lastChange = e, d, time.Now()
		}
		if time.Since(lastChange) > settle {
			fmt.Fprintf(out, "nothing new for %s: giving up with %d/%d emails, %d/%d deliveries\n", settle, e, want, d, want*eventsPerItem)
			return false
		}
		if !r.host.alive() {
			fmt.Fprintf(out, "paperflow serve died (%v):\n%s\n", r.host.exitErr, r.host.logTail(20))
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(r.o.grace):
	}
	return true
}

// printProgress prints a status line every progressEvery until stopped;
// want > 0 adds the share of emails received.
func (r *runner) printProgress(ctx context.Context, out io.Writer, t0 time.Time, want int) (stop func()) {
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
			}
			s, ok := r.sampler.latest()
			if !ok {
				continue
			}
			share := ""
			if want > 0 {
				share = fmt.Sprintf(" (%d%%)", s.Emails*100/want)
			}
			fmt.Fprintf(out, "  %6s  handed %d  emails %d%s  deliveries %d  RSS host %s  host+plugins %s  fds %d  threads %d\n",
				time.Since(t0).Round(time.Second), s.Handed, s.Emails, share, s.Deliveries, mib(s.Host.RSS), mib(s.TreeRSS), s.Host.FDs, s.Host.Threads)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// verdict prints the counts and says whether everything arrived exactly
// once.
func (r *runner) verdict(out io.Writer, results []runResult, want int, complete bool) bool {
	ms, hs := r.mails.snapshot(), r.hooks.snapshot()
	var problems []string
	var failed, succeeded int64
	for _, res := range results {
		if res.err != nil {
			problems = append(problems, res.err.Error())
			continue
		}
		failed += res.sum.Failed
		succeeded += res.sum.Succeeded
		for i, e := range res.sum.Errors {
			if i == 3 {
				problems = append(problems, fmt.Sprintf("run %s: %d more failed items", res.sum.RunID, len(res.sum.Errors)-3))
				break
			}
			problems = append(problems, fmt.Sprintf("run %s: item %s failed in %s: %s", res.sum.RunID, e.Item, e.Block, e.Error))
		}
	}
	wantD := want * eventsPerItem
	unreceived := r.hooks.unreceived(r.mails)
	fmt.Fprintf(out, "runs:           %d, items %d succeeded, %d failed\n", len(results), succeeded, failed)
	fmt.Fprintf(out, "emails:         %d of %d received, missing %d; duplicates %d by Message-ID, %d by item; unreadable %d\n",
		ms.Unique, want, max(0, want-ms.Unique), ms.DupIDs, ms.DupKeys, ms.Unreadable)
	fmt.Fprintf(out, "deliveries:     %d of %d received, missing %d; duplicates %d; refused %d (DOCUMENTS_CREATED %d, EMAILS_CREATED %d)\n",
		hs.Unique, wantD, max(0, wantD-hs.Unique), hs.Dups, hs.Refused, hs.ByType["DOCUMENTS_CREATED"], hs.ByType["EMAILS_CREATED"])
	fmt.Fprintf(out, "cross-check:    %d Message-IDs announced in EMAILS_CREATED never reached the SMTP server or outbox\n", unreceived)
	if st := r.sampler.metrics.status(); st != "" {
		fmt.Fprintf(out, "metrics:        %s\n", st)
	}
	check := func(bad bool, format string, args ...any) {
		if bad {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	check(failed > 0, "%d items failed", failed)
	check(ms.Unique < want, "%d emails missing", want-ms.Unique)
	check(ms.Unique > want, "%d more emails than items", ms.Unique-want)
	check(ms.DupIDs > 0, "%d emails received twice (same Message-ID)", ms.DupIDs)
	check(ms.DupKeys > 0, "%d items emailed twice", ms.DupKeys)
	check(ms.Unreadable > 0, "%d emails without a Message-ID or pfsoak subject", ms.Unreadable)
	check(hs.Unique < wantD, "%d deliveries missing", wantD-hs.Unique)
	check(hs.Unique > wantD, "%d more deliveries than events", hs.Unique-wantD)
	check(hs.Dups > 0, "%d deliveries received twice", hs.Dups)
	check(hs.Refused > 0, "%d deliveries failed verification (last: %s)", hs.Refused, hs.LastError)
	check(unreceived > 0, "%d announced emails never arrived", unreceived)
	check(!r.host.alive(), "paperflow serve died: %v", r.host.exitErr)
	check(!complete && len(problems) == 0, "gave up waiting")
	if len(problems) == 0 {
		fmt.Fprintln(out, "result:         OK, every email and delivery arrived exactly once")
		return true
	}
	fmt.Fprintln(out, "result:         FAILED")
	for _, p := range problems {
		fmt.Fprintln(out, "  -", p)
	}
	fmt.Fprintf(out, "serve log: %s\n", r.host.logPath)
	return false
}
