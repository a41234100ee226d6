package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// mib formats bytes as MiB, the unit RSS is usually read in.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// promMiB formats the host's own RSS figure from /metrics, which may be
// unknown.
func promMiB(b int64) string {
	if b < 0 {
		return "n/a"
	}
	return mib(b)
}

// goroutines formats a /metrics count that may be unknown.
func goroutines(n int) string {
	if n < 0 {
		return "n/a"
	}
	return fmt.Sprint(n)
}

// pointRow is a named sample in the load report.
type pointRow struct {
	name string
	s    sample
}

func printPoints(out io.Writer, t0 time.Time, rows []pointRow) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "point\tat\temails\tdeliveries\tRSS host\t(/metrics)\theap goal\thost+plugins\tplugins\tgoroutines\tfds\tthreads\t")
	for _, r := range rows {
		at := "-"
		if !r.s.At.Before(t0) {
			at = r.s.At.Sub(t0).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%d\t\n", r.name, at, r.s.Emails, r.s.Deliveries,
			mib(r.s.Host.RSS), promMiB(r.s.PromRSS), promMiB(r.s.HeapGoal), mib(r.s.TreeRSS), r.s.Children, goroutines(r.s.Goroutines), r.s.Host.FDs, r.s.Host.Threads)
	}
	_ = tw.Flush()
}

// minute sums up the samples of one minute of a soak.
type minute struct {
	label            string
	n                int
	rssSum, treeSum  int64
	rssMax, treeMax  int64
	end              sample // the minute's last sample
	goroutinesMin    int
	goroutinesMax    int
	fdsMin, fdsMax   int
	handed, received int64
}

func (m *minute) add(s sample) {
	if m.n == 0 {
		m.goroutinesMin, m.goroutinesMax = s.Goroutines, s.Goroutines
		m.fdsMin, m.fdsMax = s.Host.FDs, s.Host.FDs
	}
	m.n++
	m.rssSum += s.Host.RSS
	m.treeSum += s.TreeRSS
	m.rssMax = max(m.rssMax, s.Host.RSS)
	m.treeMax = max(m.treeMax, s.TreeRSS)
	m.goroutinesMin, m.goroutinesMax = min(m.goroutinesMin, s.Goroutines), max(m.goroutinesMax, s.Goroutines)
	m.fdsMin, m.fdsMax = min(m.fdsMin, s.Host.FDs), max(m.fdsMax, s.Host.FDs)
	m.end = s
}

func (m *minute) rssAvg() int64  { return m.rssSum / int64(max(m.n, 1)) }
func (m *minute) treeAvg() int64 { return m.treeSum / int64(max(m.n, 1)) }

// perMinute groups the samples taken from t0 on by minute of the soak;
// samples after the deadline (waiting for the last runs) form a final
// "drain" row.
func perMinute(samples []sample, t0, deadline time.Time) []*minute {
	var out []*minute
	var drain *minute
	for _, s := range samples {
		if s.At.Before(t0) {
			continue
		}
		if !s.At.Before(deadline) {
			if drain == nil {
				drain = &minute{label: "drain"}
			}
			drain.add(s)
			continue
		}
		i := int(s.At.Sub(t0) / time.Minute)
		for len(out) <= i {
			out = append(out, &minute{label: fmt.Sprint(len(out) + 1)})
		}
		out[i].add(s)
	}
	if drain != nil {
		out = append(out, drain)
	}
	return out
}

func printMinutes(out io.Writer, ms []*minute) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "minute\thanded\temails\tbehind\tRSS host avg\tmax\thost+plugins avg\tmax\tplugins\tgoroutines\tfds\tthreads\t")
	for _, m := range ms {
		if m.n == 0 {
			fmt.Fprintf(tw, "%s\t\t\t\t(no samples)\t\t\t\t\t\t\t\t\n", m.label)
			continue
		}
		e := m.end
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t\n", m.label, e.Handed, e.Emails, e.Handed-int64(e.Emails),
			mib(m.rssAvg()), mib(m.rssMax), mib(m.treeAvg()), mib(m.treeMax), e.Children,
			span(m.goroutinesMin, m.goroutinesMax, e.Goroutines < 0), span(m.fdsMin, m.fdsMax, false), e.Host.Threads)
	}
	_ = tw.Flush()
	fmt.Fprintln(out, "(handed and emails are cumulative at the end of the minute; behind = handed - emailed; goroutines and fds are min-max within the minute)")
}

// span formats a min-max range.
func span(lo, hi int, unknown bool) string {
	switch {
	case unknown:
		return "n/a"
	case lo == hi:
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

// printGrowth compares the first minute with the last full minute of the
// soak, and with the host once the load has drained. A minute with under
// half the samples of the first (the tail of a duration that is not whole
// minutes) does not count as the end state.
func printGrowth(out io.Writer, ms []*minute, last sample) {
	var first, end *minute
	for _, m := range ms {
		if m.label == "drain" || m.n == 0 {
			continue
		}
		if first == nil {
			first = m
		}
		if m.n*2 >= first.n {
			end = m
		}
	}
	if first == nil || end == first {
		fmt.Fprintln(out, "growth: the soak lasted under two minutes; no growth figure")
		return
	}
	d := func(a, b int64) string {
		return fmt.Sprintf("%+.1f MiB (%+.0f%%)", float64(b-a)/(1<<20), 100*float64(b-a)/float64(max(a, 1)))
	}
	fmt.Fprintf(out, "growth minute %s → %s: RSS host avg %s → %s, %s; host+plugins avg %s → %s, %s\n",
		first.label, end.label, mib(first.rssAvg()), mib(end.rssAvg()), d(first.rssAvg(), end.rssAvg()),
		mib(first.treeAvg()), mib(end.treeAvg()), d(first.treeAvg(), end.treeAvg()))
	fmt.Fprintf(out, "                       goroutines %s → %s, fds %s → %s, threads %d → %d (end of minute)\n",
		goroutines(first.end.Goroutines), goroutines(end.end.Goroutines), fmt.Sprint(first.end.Host.FDs), fmt.Sprint(end.end.Host.FDs),
		first.end.Host.Threads, end.end.Host.Threads)
	fmt.Fprintf(out, "                       RSS host (/metrics, end of minute) %s → %s\n", promMiB(first.end.PromRSS), promMiB(end.end.PromRSS))
	fmt.Fprintf(out, "after drain:           RSS host %s, host+plugins %s, goroutines %s, fds %d, threads %d, plugins %d\n",
		mib(last.Host.RSS), mib(last.TreeRSS), goroutines(last.Goroutines), last.Host.FDs, last.Host.Threads, last.Children)
}
