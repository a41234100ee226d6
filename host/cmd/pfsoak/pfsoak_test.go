package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseStatus(t *testing.T) {
	raw := "Name:\tpaperflow\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t12\nSigQ:\t0/95000\n"
	got := parseStatus([]byte(raw))
	want := procStat{RSS: 100 << 20, HWM: 200 << 20, Threads: 12}
	if got != want {
		t.Errorf("parseStatus = %+v, want %+v", got, want)
	}
}

func TestParsePPID(t *testing.T) {
	for _, tc := range []struct {
		stat string
		ppid int
		ok   bool
	}{
		{"123 (paperflow) S 99 123 123 0", 99, true},
		{"124 (odd) name (x)) R 7 124", 7, true}, // a command name with ") " in it
		{"garbage", 0, false},
	} {
		ppid, ok := parsePPID([]byte(tc.stat))
		if ppid != tc.ppid || ok != tc.ok {
			t.Errorf("parsePPID(%q) = %d, %v; want %d, %v", tc.stat, ppid, ok, tc.ppid, tc.ok)
		}
	}
}

func TestParseCPU(t *testing.T) {
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
	stat := "123 (odd) name) S 99 123 123 0 -1 4194560 5000 0 0 0 250 50 0 0 20 0 14 0"
	if got, ok := parseCPU([]byte(stat)); !ok || got != 3*time.Second {
		t.Errorf("parseCPU = %v, %v; want 3s", got, ok)
	}
	if _, ok := parseCPU([]byte("123 (short) S 1 2")); ok {
		t.Error("parseCPU of a short line: ok")
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
go_goroutines_other 7
process_resident_memory_bytes 1.2345678e+08
go_memstats_next_gc_bytes 4.194304e+06
paperflow_items_total{workflow="a"} 5
`
	got, err := parseMetrics(strings.NewReader(text), metricGoroutines, metricRSS, metricHeapGoal)
	if err != nil {
		t.Fatal(err)
	}
	if got[metricGoroutines] != 42 || got[metricRSS] != 1.2345678e+08 || got[metricHeapGoal] != 4<<20 || len(got) != 3 {
		t.Errorf("parseMetrics = %v", got)
	}
}

func TestPerMinute(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var samples []sample
	for s := -2; s < 150; s++ {
		samples = append(samples, sample{At: t0.Add(time.Duration(s) * time.Second), Host: procStat{RSS: int64(s)}})
	}
	ms := perMinute(samples, t0, t0.Add(130*time.Second))
	var labels []string
	for _, m := range ms {
		labels = append(labels, m.label)
	}
	if got := strings.Join(labels, ","); got != "1,2,3,drain" {
		t.Fatalf("minutes %s, want 1,2,3,drain", got)
	}
	if ms[0].n != 60 || ms[2].n != 10 || ms[3].n != 20 {
		t.Errorf("samples per minute %d %d %d %d, want 60 60 10 20", ms[0].n, ms[1].n, ms[2].n, ms[3].n)
	}
	if ms[0].rssMax != 59 || ms[0].end.Host.RSS != 59 {
		t.Errorf("minute 1 max %d end %d, want 59", ms[0].rssMax, ms[0].end.Host.RSS)
	}
}

func TestParseFlags(t *testing.T) {
	var sb strings.Builder
	for _, args := range [][]string{{}, {"-items", "10", "-duration", "1m"}, {"-duration", "1m", "-rate", "0"}, {"-items", "5", "extra"}, {"-items", "5", "-mail", "pigeon"}} {
		if _, err := parseFlags(args, &sb); err == nil {
			t.Errorf("parseFlags(%q): no error", args)
		}
	}
	o, err := parseFlags([]string{"-duration", "2m", "-rate", "150"}, &sb)
	if err != nil || o.duration != 2*time.Minute || o.rate != 150 || o.interval != 5*time.Second || o.mail != "smtp" {
		t.Errorf("parseFlags = %+v, %v", o, err)
	}
	if o, err := parseFlags([]string{"-items", "5", "-mail", "outbox"}, &sb); err != nil || o.mail != "outbox" {
		t.Errorf("parseFlags -mail outbox = %+v, %v", o, err)
	}
}
