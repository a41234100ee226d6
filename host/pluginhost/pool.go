package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/paperflow/paperflow/host/metrics"
	"github.com/paperflow/paperflow/plugins/sdk/retries"
)

// pool runs one process per block binary for the whole host, shared by
// every instance of that block (each workflow block id, each run). A
// block built with an SDK that predates sharing says so in Describe and
// gets a process per instance, as before.
type pool struct {
	mu    sync.Mutex
	procs map[string]*shared // by binary path
	// single marks binaries whose processes serve one instance each.
	single map[string]bool
	// probing holds a channel per binary whose first process is being
	// launched; it is closed when the launch is done.
	probing map[string]chan struct{}
}

// processes is the host's pool.
var processes = &pool{procs: map[string]*shared{}, single: map[string]bool{}, probing: map[string]chan struct{}{}}

// shared is one block process and the count of instances on it. The
// process is replaced after a crash; gen counts the launches, so an
// instance knows when it must be configured again.
type shared struct {
	path, uses string
	log        *slog.Logger
	multi      bool

	mu       sync.Mutex
	proc     *Process
	gen      uint64
	refs     int // guarded by pool.mu
	released bool
}

// attach returns the process entry an instance of the binary at path
// uses, launching the binary when no instance runs on it yet.
func (pl *pool) attach(ctx context.Context, path, uses string, log *slog.Logger) (*shared, error) {
	for {
		pl.mu.Lock()
		if s := pl.procs[path]; s != nil {
			s.refs++
			pl.mu.Unlock()
			return s, nil
		}
		if pl.single[path] {
			pl.mu.Unlock()
			return &shared{path: path, uses: uses, log: log, refs: 1}, nil
		}
		if wait := pl.probing[path]; wait != nil {
			pl.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		wait := make(chan struct{})
		pl.probing[path] = wait
		pl.mu.Unlock()

		s, err := pl.launchFirst(ctx, path, uses, log)
		pl.mu.Lock()
		delete(pl.probing, path)
		close(wait)
		if err == nil {
			if s.multi {
				pl.procs[path] = s
			} else {
				pl.single[path] = true
			}
		}
		pl.mu.Unlock()
		return s, err
	}
}

// launchFirst starts the first process of a binary and asks it whether it
// serves several instances.
func (pl *pool) launchFirst(ctx context.Context, path, uses string, log *slog.Logger) (*shared, error) {
	p, err := Launch(path, log.With("uses", uses))
	if err != nil {
		return nil, err
	}
	d, err := p.Describe(ctx)
	if err != nil {
		p.Kill()
		return nil, err
	}
	return &shared{path: path, uses: uses, log: log.With("uses", uses), multi: d.MultiInstance, proc: p, gen: 1, refs: 1}, nil
}

// detach drops an instance from s. The last one ends the process (last is
// true); otherwise it returns the process and its launch number so the
// caller can have it release the instance.
func (pl *pool) detach(s *shared) (p *Process, gen uint64, last bool) {
	pl.mu.Lock()
	s.refs--
	last = s.refs == 0
	if last && pl.procs[s.path] == s {
		delete(pl.procs, s.path)
	}
	pl.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if last {
		s.released = true
		if s.proc != nil {
			s.proc.Kill()
			s.proc = nil
		}
		return nil, 0, true
	}
	if s.proc == nil || s.proc.Exited() {
		return nil, 0, false
	}
	return s.proc, s.gen, false
}

// restartRetry is how a block process that died is started again: nine
// tries, waits doubling from 100ms up to 5s.
var restartRetry = retries.Policy{Initial: 100 * time.Millisecond, Multiplier: 2, Cap: 5 * time.Second, MaxAttempts: 9}

// get returns the live process and its launch number, launching a new
// one with backoff when it died. Instances wait here while one of them
// relaunches, so a crash costs one restart, not one per instance.
func (s *shared) get(ctx context.Context) (*Process, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return nil, 0, errors.New("block process released")
	}
	if s.proc != nil && !s.proc.Exited() {
		return s.proc, s.gen, nil
	}
	first := s.gen == 0
	if s.proc != nil {
		s.proc.Kill()
		s.proc = nil
	}
	policy := restartRetry
	if first {
		policy.MaxAttempts = 1 // a block that cannot start at all says so now
	}
	err := policy.Do(ctx, func(ctx context.Context) error {
		p, err := Launch(s.path, s.log)
		if err != nil {
			s.log.Warn("restarting block failed", "err", err)
			return err
		}
		s.proc = p
		return nil
	})
	if err != nil {
		if first {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("restart failed: %w", err)
	}
	s.gen++
	if !first {
		metrics.PluginRestarted(s.uses)
		s.log.Info("block process restarted", "launches", s.gen)
	}
	return s.proc, s.gen, nil
}

// discard kills p if it is still the current process, so the next call
// of any instance starts a fresh one.
func (s *shared) discard(p *Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == p {
		p.Kill()
		s.proc = nil
	}
}

// killCurrent kills the process as a crash would, leaving the restart to
// the next call.
func (s *shared) killCurrent() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.Kill()
	}
}
