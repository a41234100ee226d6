package delivery

import (
	"fmt"
	"reflect"
	"time"

	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk/retries"
)

// DefaultRetry is the retry policy of a sink or subscription that sets
// none: waits of 1 min, 5 min, 30 min, 2 h and 12 h, each moved by up to
// JitterPercent, so six attempts over about 14.5 hours; then the event goes
// to the dead letters. It is the one place the default is written.
var DefaultRetry = Schedule{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour}.Policy()

// JitterPercent spreads retries of many events that failed together (an
// endpoint that was down) so they do not come back all at once.
const JitterPercent = 10

// Schedule is a retry policy written as its waits, as a sink's `retry:
// [1m, 5m]` and the plugin protocol write it: the waits after the first,
// second, … failed attempt. After len(Schedule)+1 attempts the event goes
// to the dead letters. Policy is the retries.Policy it stands for.
type Schedule []time.Duration

// DefaultSchedule is DefaultRetry's waits.
var DefaultSchedule = Schedule(DefaultRetry.Waits)

// Policy is the retry policy of a sink whose waits are s: those waits,
// with the sinks' jitter.
func (s Schedule) Policy() retries.Policy {
	if s == nil {
		s = Schedule{} // no waits: one attempt, not a policy without a list
	}
	return retries.Policy{Waits: s, JitterPercent: JitterPercent}
}

// MaxAttempts is how many times an event is tried in all.
func (s Schedule) MaxAttempts() uint64 { return uint64(s.Policy().Attempts()) }

// Delay is the wait after failed attempt n (counted from 1), with jitter;
// ok is false when n was the last attempt.
func (s Schedule) Delay(n uint64) (d time.Duration, ok bool) {
	if n > uint64(len(s)) {
		return 0, false
	}
	return s.Policy().Delay(int(n))
}

// ParseSchedule reads a schedule written as durations: ["1m", "5m", "30m"].
// An empty list is the DefaultSchedule.
func ParseSchedule(in []string) (Schedule, error) {
	waits, err := retries.ParseWaits(in)
	switch {
	case err != nil:
		return nil, err
	case waits == nil:
		return DefaultSchedule, nil
	}
	return waits, nil
}

// RetryPolicy is the policy the target is retried by: its Schedule's when it
// lists waits, else its Retry, else DefaultRetry.
func (t Target) RetryPolicy() retries.Policy {
	switch {
	case t.Schedule != nil:
		return t.Schedule.Policy()
	case reflect.ValueOf(t.Retry).IsZero():
		return DefaultRetry
	}
	return t.Retry
}

// PolicyDeclarer is a sink that declared in Configure what the host should
// feed it and how to retry (ConfigureResponse.sink): *pluginhost.Block is
// one.
type PolicyDeclarer interface {
	SinkPolicy() *blockv1.SinkPolicy
}

// SinkTarget builds the Target of a sink block from the policy it declared
// when configured: its event types select what its consumer receives (all
// types when it names none) and its waits are its Schedule (DefaultSchedule
// when it gives none). A sink that declares nothing gets both defaults.
func SinkTarget(workflow, blockID string, sink Sink) (Target, error) {
	var p *blockv1.SinkPolicy
	if d, ok := sink.(PolicyDeclarer); ok {
		p = d.SinkPolicy()
	}
	sched := DefaultSchedule
	if waits := p.GetRetryMs(); len(waits) > 0 {
		sched = make(Schedule, len(waits))
		for i, ms := range waits {
			if ms < 0 {
				return Target{}, fmt.Errorf("sink %s/%s: retry[%d]: a negative wait (%d ms)", workflow, blockID, i, ms)
			}
			sched[i] = time.Duration(ms) * time.Millisecond
		}
	}
	return Target{Workflow: workflow, Name: blockID, Events: p.GetEvents(), Schedule: sched, Sink: sink}, nil
}
