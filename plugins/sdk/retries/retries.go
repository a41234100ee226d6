// Package retries holds retry policies as values: how soon, how often and
// for which errors an operation that failed is tried again. The host (the
// engine's items, NATS calls, block restarts, mail, sink deliveries) and
// blocks (the http block's calls) describe their retries with the same
// Policy instead of writing backoff loops, so a default is a value declared
// once and a setting in config reads the same everywhere.
package retries

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sethvargo/go-retry"
)

// Policy says how an operation is tried again after it fails. The zero
// Policy tries again at once, forever, until the context ends.
type Policy struct {
	// Initial is the wait after the first failed attempt.
	Initial time.Duration
	// Multiplier grows each wait from the one before (0 means 2).
	Multiplier float64
	// Cap bounds a single wait, jitter included (0: no bound).
	Cap time.Duration
	// MaxAttempts is how many tries there are in all, the first included
	// (0: no limit; 1: no retries).
	MaxAttempts int
	// MaxElapsed stops trying once this long has passed since the policy's
	// backoff was made (0: no limit).
	MaxElapsed time.Duration
	// JitterPercent moves each wait up or down by up to this percent, so
	// that many operations that failed together do not come back together.
	JitterPercent uint64
	// Waits, when set, are the waits after the first, second, … failed
	// attempt in place of Initial and Multiplier, as a sink's `retry: [1m,
	// 5m]` lists them; after the last wait there are no more tries.
	Waits []time.Duration
	// NonRetryable are errors (matched with errors.Is) that no later try
	// can mend: Do returns them at once.
	NonRetryable []error
}

// ParseWaits reads listed waits as a configuration writes them, such as a
// sink's `retry: [1m, 5m, 30m]`, for Policy.Waits. An error names the
// entry, never its value, which may come from a resolved secret; an empty
// list gives nil (the caller's default).
func ParseWaits(in []string) ([]time.Duration, error) {
	var out []time.Duration
	for i, s := range in {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("retry[%d]: not a duration such as 5m", i)
		}
		out = append(out, d)
	}
	return out, nil
}

// Backoff returns a fresh go-retry Backoff that yields the policy's waits,
// for a caller that drives go-retry itself (to honour a server's
// Retry-After, say).
func (p Policy) Backoff() retry.Backoff {
	n := 0
	var b retry.Backoff = retry.BackoffFunc(func() (time.Duration, bool) {
		n++
		return p.wait(n)
	})
	if p.JitterPercent > 0 {
		b = retry.WithJitterPercent(p.JitterPercent, b)
	}
	if p.Cap > 0 {
		b = retry.WithCappedDuration(p.Cap, b)
	}
	if p.MaxAttempts > 0 {
		b = retry.WithMaxRetries(uint64(p.MaxAttempts-1), b)
	}
	if p.MaxElapsed > 0 {
		b = retry.WithMaxDuration(p.MaxElapsed, b)
	}
	return b
}

// wait is the wait after failed attempt n, before jitter and cap; stop when
// the waits are listed and n is past the last.
func (p Policy) wait(n int) (time.Duration, bool) {
	if p.Waits != nil {
		if n > len(p.Waits) {
			return 0, true
		}
		return p.Waits[n-1], false
	}
	m := p.Multiplier
	if m == 0 {
		m = 2
	}
	d := float64(p.Initial) * math.Pow(m, float64(n-1))
	if d >= math.MaxInt64 || math.IsInf(d, 0) {
		return math.MaxInt64, false
	}
	return time.Duration(d), false
}

// Delay is the wait after failed attempt n (counted from 1), jitter and cap
// included; ok is false when attempt n was the last. It serves callers that
// hand the wait to someone else, as a queue's delayed redelivery.
func (p Policy) Delay(n int) (d time.Duration, ok bool) {
	if n < 1 || (p.MaxAttempts > 0 && n >= p.MaxAttempts) {
		return 0, false
	}
	q := p
	q.MaxAttempts, q.MaxElapsed = 0, 0
	b := q.Backoff()
	for range n {
		var stop bool
		if d, stop = b.Next(); stop {
			return 0, false
		}
	}
	return d, true
}

// Attempts is how many tries the policy allows in all: MaxAttempts, or with
// listed Waits one more than there are waits; 0 is no limit.
func (p Policy) Attempts() int {
	if p.Waits != nil && (p.MaxAttempts == 0 || p.MaxAttempts > len(p.Waits)+1) {
		return len(p.Waits) + 1
	}
	return p.MaxAttempts
}

// Retryable reports whether a later try may mend err: not when err is, or
// wraps, one of NonRetryable or is marked Permanent. (An attempt's own
// deadline is retryable; Do stops when its context ends.)
func (p Policy) Retryable(err error) bool {
	if err == nil || errors.As(err, new(*permanentError)) {
		return false
	}
	for _, c := range p.NonRetryable {
		if errors.Is(err, c) {
			return false
		}
	}
	return true
}

// Do calls f until it succeeds, returns an error that is not Retryable, the
// attempts run out or ctx ends, waiting between tries as the policy says.
// It returns f's last error (without a Permanent mark), or ctx's error
// when ctx ended while it waited.
func (p Policy) Do(ctx context.Context, f func(context.Context) error) error {
	_, err := Value(ctx, p, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, f(ctx)
	})
	return err
}

// Value is Do for an f that returns a value.
func Value[T any](ctx context.Context, p Policy, f func(context.Context) (T, error)) (T, error) {
	return retry.DoValue(ctx, p.Backoff(), func(ctx context.Context) (T, error) {
		v, err := f(ctx)
		var pe *permanentError
		switch {
		case err == nil:
			return v, nil
		case errors.As(err, &pe) && pe == err:
			return v, pe.err
		case ctx.Err() == nil && p.Retryable(err):
			return v, retry.RetryableError(err)
		}
		return v, err
	})
}

// Permanent marks err as one no later try can mend, whatever the policy's
// NonRetryable says: Do returns it at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }
