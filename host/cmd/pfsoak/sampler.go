package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// sample is the host and the receivers at one moment.
type sample struct {
	At       time.Time
	Host     procStat
	TreeRSS  int64 // the host's RSS plus its block processes'
	Children int   // block processes running
	// Goroutines, PromRSS and HeapGoal come from /metrics; -1 when
	// unknown.
	Goroutines int
	PromRSS    int64
	HeapGoal   int64
	Handed     int64 // items handed to the host so far
	Emails     int   // unique Message-IDs received
	Deliveries int   // unique webhook-ids received
}

// sampler records a sample every tick until its context ends.
type sampler struct {
	host    *host
	mails   *mailCounter
	hooks   *hookCounter
	metrics *metricsClient
	prof    *profiler // nil: no profiles
	handed  atomic.Int64

	mu      sync.Mutex
	samples []sample
}

func (s *sampler) loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	s.take()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.take()
		}
	}
}

// take records one sample; nothing when the host has gone.
func (s *sampler) take() (sample, bool) {
	now := time.Now()
	st, err := readProc(s.host.pid)
	if err != nil {
		return sample{}, false
	}
	smp := sample{At: now, Host: st, TreeRSS: st.RSS, Goroutines: -1, PromRSS: -1, HeapGoal: -1, Handed: s.handed.Load()}
	for _, pid := range descendants(s.host.pid) {
		if c, err := readProc(pid); err == nil {
			smp.TreeRSS += c.RSS
			smp.Children++
		}
	}
	if m := s.metrics.fetch(); m != nil {
		if v, ok := m[metricGoroutines]; ok {
			smp.Goroutines = int(v)
		}
		if v, ok := m[metricRSS]; ok {
			smp.PromRSS = int64(v)
		}
		if v, ok := m[metricHeapGoal]; ok {
			smp.HeapGoal = int64(v)
		}
	}
	smp.Emails = s.mails.snapshot().Unique
	smp.Deliveries = s.hooks.snapshot().Unique
	if s.prof != nil {
		s.prof.observe(smp.Emails)
	}
	s.mu.Lock()
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
	return smp, true
}

// all returns the samples so far.
func (s *sampler) all() []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sample(nil), s.samples...)
}

// latest is the newest sample, if any.
func (s *sampler) latest() (sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return sample{}, false
	}
	return s.samples[len(s.samples)-1], true
}
