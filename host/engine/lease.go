package engine

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
)

// errLeaseLost: another host holds the lease now.
var errLeaseLost = errors.New("lease taken over by another host")

func sourceLeaseKey(runID string) string { return "lease.source." + runID }

// lease gives one host at a time a job (reading a run's source) through
// a KV key updated with compare-and-set. The holder renews it; another
// host takes it over once the key has not changed for ttl by its own
// clock, so hosts need no synchronised clocks.
type lease struct {
	kv    jetstream.KeyValue
	key   string
	owner string
	ttl   time.Duration

	rev     uint64    // revision of this host's last write
	seenRev uint64    // holder's revision last seen by this host
	seenAt  time.Time // when this host first saw seenRev
}

// acquire takes the lease when it is free, stale, or force is set (the
// operator resumes a run they know is dead).
func (l *lease) acquire(ctx context.Context, force bool) (bool, error) {
	ent, err := l.kv.Get(ctx, l.key)
	if bus.IsNotFound(err) {
		rev, err := l.kv.Create(ctx, l.key, []byte(l.owner))
		if err != nil {
			return false, nil // another host was quicker
		}
		l.rev = rev
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if ent.Revision() != l.seenRev {
		l.seenRev, l.seenAt = ent.Revision(), time.Now()
	}
	if !force && string(ent.Value()) != l.owner && time.Since(l.seenAt) < l.ttl {
		return false, nil
	}
	rev, err := l.kv.Update(ctx, l.key, []byte(l.owner), ent.Revision())
	if err != nil {
		return false, nil
	}
	l.rev = rev
	return true, nil
}

// renew keeps the lease; errLeaseLost when another host has written it.
func (l *lease) renew(ctx context.Context) error {
	rev, err := l.kv.Update(ctx, l.key, []byte(l.owner), l.rev)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return errLeaseLost
		}
		return err
	}
	l.rev = rev
	return nil
}
