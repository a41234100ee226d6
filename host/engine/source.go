package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk/retries"
)

// itemMsg is one item in the work queue.
type itemMsg struct {
	ID     string          `json:"id"`
	Origin string          `json:"origin,omitempty"`
	Fields json.RawMessage `json:"fields,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// readSource reads the source into the work queue while this host holds
// the run's source lease. A host that does not hold it watches the lease
// and takes it over when its holder has gone silent for ItemTimeout, so a
// run whose reading host died still reads to the end.
func (rs *runState) readSource(ctx context.Context, tr *tracker, force bool) error {
	e := rs.e
	l := &lease{kv: e.opts.Store.HostKV, key: sourceLeaseKey(rs.runID), owner: e.hostID, ttl: e.opts.ItemTimeout}
	for {
		if _, done := tr.queued(); done {
			return nil
		}
		ok, err := l.acquire(ctx, force)
		force = false
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if ok {
			err := rs.feedHolding(ctx, l, tr)
			if err == nil || ctx.Err() != nil || !errors.Is(err, errLeaseLost) {
				return err
			}
			e.log.Warn("stopped reading the source; it goes to whichever host holds the lease", "run", rs.runID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(l.ttl / 4):
		}
	}
}

// feedHolding feeds while renewing the lease; it stops with errLeaseLost
// when the lease cannot be kept.
func (rs *runState) feedHolding(ctx context.Context, l *lease, tr *tracker) error {
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		t := time.NewTicker(l.ttl / 4)
		defer t.Stop()
		kept := time.Now()
		for {
			select {
			case <-fctx.Done():
				return
			case <-t.C:
			}
			err := l.renew(fctx)
			switch {
			case err == nil:
				kept = time.Now()
			case errors.Is(err, errLeaseLost) || time.Since(kept) > l.ttl*3/4:
				cancel(errLeaseLost)
				return
			}
		}
	}()
	rec, err := rs.e.loadRun(fctx, rs.runID)
	if err != nil {
		// NATS may be failing over: let the lease go and try again.
		rs.e.log.Warn("read the run record before reading the source", "run", rs.runID, "err", err)
		return errLeaseLost
	}
	if !rec.SourceDone {
		err = rs.feed(fctx, rec, tr)
	}
	if cause := context.Cause(fctx); errors.Is(cause, errLeaseLost) {
		return errLeaseLost
	}
	return err
}

// feed reads the source into the work queue from the first item not yet
// queued. Each batch is acknowledged by NATS before the run record counts
// it, so a feed taken over by another host skips exactly the items
// already queued (and Nats-Msg-Id absorbs the overlap).
func (rs *runState) feed(ctx context.Context, rec *runRecord, tr *tracker) error {
	e := rs.e
	subject := bus.ItemsSubject(rs.wf.Name, rs.runID)
	seq := rec.Enqueued
	err := rs.source.Read(ctx, rs.runID, rec.Enqueued, func(items []*blockv1.Item) error {
		msgs := make([]*nats.Msg, 0, len(items))
		for _, it := range items {
			seq++
			raw, err := json.Marshal(itemMsg{ID: strconv.FormatInt(seq, 10), Origin: it.Origin, Fields: it.Fields, Error: it.Error})
			if err != nil {
				return err
			}
			msg := nats.NewMsg(subject)
			msg.Data = raw
			msg.Header.Set(jetstream.MsgIDHeader, rs.runID+"."+strconv.FormatInt(seq, 10))
			msgs = append(msgs, msg)
		}
		if err := e.publishAll(ctx, msgs, "queue items"); err != nil {
			return err
		}
		n := seq
		if _, err := e.updateRun(ctx, rs.runID, func(r *runRecord) error {
			r.Enqueued = max(r.Enqueued, n)
			return nil
		}); err != nil {
			e.log.Warn("record source progress", "run", rs.runID, "err", err)
		}
		tr.setRead(n, false)
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &sourceError{fmt.Errorf("source %s (%s): %w", rs.wf.Source.ID, rs.wf.Source.Uses, err)}
	}
	if _, err := e.updateRun(ctx, rs.runID, func(r *runRecord) error {
		r.Enqueued, r.SourceDone = max(r.Enqueued, seq), true
		return nil
	}); err != nil {
		return fmt.Errorf("record the end of the source: %w", err)
	}
	tr.setRead(seq, true)
	return nil
}

// sourceError is a source that cannot be read: the run fails, whichever
// host was reading it.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// publishAll publishes msgs and waits for every ack, publishing again
// (with backoff, for up to maxStall) while NATS is failing over; message
// ids make a repeat harmless.
func (e *Engine) publishAll(ctx context.Context, msgs []*nats.Msg, what string) error {
	return stallRetry.Do(ctx, func(ctx context.Context) error {
		futures := make([]jetstream.PubAckFuture, 0, len(msgs))
		for _, m := range msgs {
			f, err := e.opts.Bus.JS.PublishMsgAsync(m)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			futures = append(futures, f)
		}
		if err := bus.WaitAcks(ctx, futures); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			e.log.Warn("publish failed; trying again", "what", what, "err", err)
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

// maxStall is how long a host keeps trying while NATS does not answer
// (a node failing over) before it gives up on the run.
const maxStall = 2 * time.Minute

// stallRetry is how the engine tries NATS again while it does not answer:
// soon at first, then every 2s, for up to maxStall.
var stallRetry = retries.Policy{Initial: 50 * time.Millisecond, Multiplier: 2, Cap: 2 * time.Second, MaxElapsed: maxStall}
