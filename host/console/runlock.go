package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
)

// RunLocksBucket holds the console's run leases: one key per run while a
// retry of its items or a resume is going, so that two tabs or two hosts
// never retry and resume one run at once. A lease names its holder and
// when it ends; the holder renews it while it works, so a host that dies
// leaves it to expire rather than holding the run for ever.
const RunLocksBucket = "paperflow_console_run_locks"

const (
	// leaseTTL is how long a lease lasts unless renewed.
	leaseTTL = 30 * time.Second
	// leaseRenew is how often a holder renews its lease.
	leaseRenew = 10 * time.Second
)

// BusyError is a retry or resume refused because another one of the same
// run holds its lease.
type BusyError struct {
	Action string    // retry or resume
	Holder string    // the host that holds it
	Since  time.Time // when it took it
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("a retry or resume of this run is already going (a %s from %s, since %s): wait for it to end, then try again",
		e.Action, e.Holder, e.Since.UTC().Format(time.TimeOnly))
}

// leaseRecord is a lease's value in the bucket.
type leaseRecord struct {
	Action string    `json:"action"`
	Holder string    `json:"holder"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until"`
}

// RunLocks takes and renews the leases of RunLocksBucket.
type RunLocks struct {
	kv     jetstream.KeyValue
	life   context.Context // bounds the renewals
	holder string
	log    *slog.Logger
	now    func() time.Time
	ttl    time.Duration
	renew  time.Duration
}

// OpenRunLocks opens (creating if needed) the leases bucket on b, stored
// and replicated as paperflow's other buckets. ctx is the host's life:
// leases are renewed no longer. The holder of this host's leases is its
// host name.
func OpenRunLocks(ctx context.Context, b *bus.Bus, log *slog.Logger) (*RunLocks, error) {
	kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: RunLocksBucket, Description: "paperflow console: leases of runs being retried or resumed",
		TTL: 2 * leaseTTL, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("console run leases: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	name, err := os.Hostname()
	if err != nil {
		name = "unknown host"
	}
	return &RunLocks{kv: kv, life: ctx, holder: name + " (" + randomHex(4) + ")", log: log, now: time.Now, ttl: leaseTTL, renew: leaseRenew}, nil
}

// lockable is the form of a run id that may be a key (run ids are
// YYYYMMDD-HHMMSS-hex).
var lockable = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// Take takes runID's lease for action, or answers a *BusyError while
// another holder's has not ended. The lease is renewed until Release, or
// until the host's life ends.
func (l *RunLocks) Take(ctx context.Context, runID, action string) (*Lease, error) {
	if !lockable.MatchString(runID) {
		return nil, fmt.Errorf("run %q: not a run id", runID)
	}
	key := "run." + runID
	for range 5 {
		now := l.now().UTC()
		raw, _ := json.Marshal(leaseRecord{Action: action, Holder: l.holder, Since: now, Until: now.Add(l.ttl)})
		e, err := l.kv.Get(ctx, key)
		var rev uint64
		switch {
		case bus.IsNotFound(err):
			rev, err = l.kv.Create(ctx, key, raw)
		case err != nil:
			return nil, fmt.Errorf("read the lease of run %s: %w", runID, err)
		default:
			var held leaseRecord
			if json.Unmarshal(e.Value(), &held) == nil && held.Until.After(now) {
				return nil, &BusyError{Action: held.Action, Holder: held.Holder, Since: held.Since}
			}
			// Its holder let it run out (it died): take it over, unless
			// another host does first.
			rev, err = l.kv.Update(ctx, key, raw, e.Revision())
		}
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue // another took or changed it meanwhile: look again
		}
		if err != nil {
			return nil, fmt.Errorf("take the lease of run %s: %w", runID, err)
		}
		ls := &Lease{l: l, key: key, rec: leaseRecord{Action: action, Holder: l.holder, Since: now}, rev: rev, stop: make(chan struct{}), done: make(chan struct{})}
		go ls.keep(l.life)
		return ls, nil
	}
	return nil, fmt.Errorf("the lease of run %s keeps changing; try again", runID)
}

// Lease is a held run lease.
type Lease struct {
	l    *RunLocks
	key  string
	rec  leaseRecord
	once sync.Once
	stop chan struct{}
	done chan struct{}

	mu  sync.Mutex
	rev uint64
}

// keep renews the lease until Release or ctx ends.
func (ls *Lease) keep(ctx context.Context) {
	defer close(ls.done)
	t := time.NewTicker(ls.l.renew)
	defer t.Stop()
	for {
		select {
		case <-ls.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rec := ls.rec
		rec.Until = ls.l.now().UTC().Add(ls.l.ttl)
		raw, _ := json.Marshal(rec)
		ls.mu.Lock()
		rev, err := ls.l.kv.Update(ctx, ls.key, raw, ls.rev)
		if err == nil {
			ls.rev = rev
		}
		ls.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			ls.l.log.Warn("console: could not renew a run lease; another retry or resume may start once it runs out", "key", ls.key, "err", err)
			if errors.Is(err, jetstream.ErrKeyExists) {
				return // taken over: it is not ours any more
			}
		}
	}
}

// Release ends the lease, unless another holder has taken it over
// meanwhile. Releasing twice does nothing.
func (ls *Lease) Release() {
	ls.once.Do(func() {
		close(ls.stop)
		<-ls.done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ls.mu.Lock()
		defer ls.mu.Unlock()
		if err := ls.l.kv.Delete(ctx, ls.key, jetstream.LastRevision(ls.rev)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			ls.l.log.Warn("console: could not release a run lease; it runs out by itself", "key", ls.key, "err", err)
		}
	})
}
