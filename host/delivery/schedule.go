package delivery

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sethvargo/go-retry"
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

// sinkConventions are the `with:` keys every sink may use to tell the host
// what to feed it and how to retry.
type sinkConventions struct {
	Events []string `json:"events"`
	Retry  []string `json:"retry"`
}

// SinkTarget builds the Target of a sink block from its `with:` JSON: the
// optional "events" list selects the event types its consumer receives (all
// types when absent) and the optional "retry" list is its Schedule.
func SinkTarget(workflow, blockID string, with []byte, sink Sink) (Target, error) {
	var conv sinkConventions
	if len(with) > 0 {
		if err := json.Unmarshal(with, &conv); err != nil {
			return Target{}, fmt.Errorf("sink %s/%s: with: %w", workflow, blockID, err)
		}
	}
	sched, err := ParseSchedule(conv.Retry)
	if err != nil {
		return Target{}, fmt.Errorf("sink %s/%s: %w", workflow, blockID, err)
	}
	return Target{Workflow: workflow, Name: blockID, Events: conv.Events, Schedule: sched, Sink: sink}, nil
}
