package delivery

import (
	"fmt"
	"time"

	"github.com/sethvargo/go-retry"

	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
)

// Schedule is a retry policy as data: the waits after the first, second,
// … failed attempt. After len(Schedule)+1 attempts the event goes to the
// dead letters.
type Schedule []time.Duration

// DefaultSchedule waits 1 min, 5 min, 30 min, 2 h and 12 h: six attempts
// over about 14.5 hours.
var DefaultSchedule = Schedule{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour}

// JitterPercent spreads retries of many events that failed together (an
// endpoint that was down) so they do not come back all at once.
const JitterPercent = 10

// MaxAttempts is how many times an event is tried in all.
func (s Schedule) MaxAttempts() uint64 { return uint64(len(s)) + 1 }

// Delay is the wait after failed attempt n (counted from 1), with jitter;
// ok is false when n was the last attempt.
func (s Schedule) Delay(n uint64) (d time.Duration, ok bool) {
	if n == 0 || n > uint64(len(s)) {
		return 0, false
	}
	i := 0
	b := retry.WithJitterPercent(JitterPercent, retry.BackoffFunc(func() (time.Duration, bool) {
		if i >= len(s) {
			return 0, true
		}
		i++
		return s[i-1], false
	}))
	for range n {
		d, _ = b.Next()
	}
	return d, true
}

// ParseSchedule reads a schedule written as durations: ["1m", "5m", "30m"].
// An empty list is the DefaultSchedule.
func ParseSchedule(in []string) (Schedule, error) {
	if len(in) == 0 {
		return DefaultSchedule, nil
	}
	out := make(Schedule, len(in))
	for i, s := range in {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("retry[%d]: %q is not a duration such as 5m", i, s)
		}
		out[i] = d
	}
	return out, nil
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
