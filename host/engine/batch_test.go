package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/engine"
)

// TestItemsRetriedOutOfAChunk: the source's items are queued in chunks;
// items of a chunk that fail retryably are queued again alone, tried
// again without redoing the blocks they finished, and their attempts
// count on from the chunk's. Every event is published once.
func TestItemsRetriedOutOfAChunk(t *testing.T) {
	for _, tc := range []struct {
		name              string
		attempts          int
		succeeded, failed int64
		events            int
	}{
		{name: "flaky items succeed on their third attempt", attempts: 5, succeeded: 6, events: 12},
		{name: "flaky items give up after two attempts", attempts: 2, succeeded: 3, failed: 3, events: 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t, func(o *engine.Options) { o.RetryDelay = 20 * time.Millisecond; o.MaxAttempts = tc.attempts })
			wf := env.load(t, `name: chunks
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: a, uses: testblock, with: {emit: true, behaviour_field: first}}
  - {id: b, uses: testblock, with: {emit: true}}
`, "Name,behaviour,first\nok1,,\nf1,flaky,\nok2,,\nf2,flaky,\nok3,,\nf3,flaky,\n", nil)
			sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Items != 6 || sum.Succeeded != tc.succeeded || sum.Failed != tc.failed {
				t.Fatalf("summary: %+v", sum)
			}
			for _, e := range sum.Errors {
				if !strings.Contains(e.Error, "gave up after 2 attempts") {
					t.Errorf("item %s: %q, want it to give up after 2 attempts", e.Item, e.Error)
				}
			}
			ids := map[string]int{}
			for _, ev := range env.published(t, sum.RunID) {
				ids[ev.EventID]++
			}
			if len(ids) != tc.events {
				t.Errorf("%d distinct events, want %d", len(ids), tc.events)
			}
			for id, n := range ids {
				if n > 1 {
					t.Errorf("event %s published %d times", id, n)
				}
			}
		})
	}
}
