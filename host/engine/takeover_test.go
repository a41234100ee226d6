package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/workflow"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// stallStep is a step that finishes nothing until its host stops (its
// connection to NATS closed first): the items a host had in hand when it
// died.
type stallStep struct{}

func (stallStep) Describe() sdk.Descriptor {
	return sdk.Descriptor{Name: "testblock", Kind: sdk.KindStep, Version: "0.0.1"}
}

func (stallStep) Configure(context.Context, sdk.Config) error { return nil }

func (stallStep) Process(ctx context.Context, items []sdk.Item) []sdk.Result {
	<-ctx.Done()
	out := make([]sdk.Result, len(items))
	for i := range out {
		out[i].Err = ctx.Err()
	}
	return out
}

// countStep counts how often each item reaches it: the side effect of a
// step that is not idempotent by itself (an `http` call).
type countStep struct {
	mu    sync.Mutex
	calls map[string]int
}

func (*countStep) Describe() sdk.Descriptor {
	return sdk.Descriptor{Name: "testblock", Kind: sdk.KindStep, Version: "0.0.1"}
}

func (*countStep) Configure(context.Context, sdk.Config) error { return nil }

func (s *countStep) Process(_ context.Context, items []sdk.Item) []sdk.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range items {
		s.calls[it.ID]++
	}
	return make([]sdk.Result, len(items))
}

// writeRows writes items.csv with rows items, those for which big says so
// (by item number, from 1) padded to 40 KB, so that a chunk of them is cut
// short to stay under the bound on a chunk's bytes.
func writeRows(t *testing.T, path string, rows int, big func(int) bool) {
	t.Helper()
	var b strings.Builder
	b.WriteString("Name,pad\n")
	pad := strings.Repeat("x", 40000)
	for i := 1; i <= rows; i++ {
		p := ""
		if big != nil && big(i) {
			p = pad
		}
		fmt.Fprintf(&b, "p%d,%s\n", i, p)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestATakeoverQueuesTheChunksOfTheHostBefore: the host reading a run's
// source dies right after queuing chunks the run record does not count
// yet, and the source then reads otherwise (a file appended to, items
// that changed). The host that takes the source over queues the same
// chunks again, which NATS absorbs, and every item reaches the step once.
func TestATakeoverQueuesTheChunksOfTheHostBefore(t *testing.T) {
	if testing.Short() {
		t.Skip("takeover")
	}
	big := func(i int) bool { return i > 100 && i <= 108 }
	for _, tc := range []struct {
		name string
		rows int
		big  func(int) bool
		// dies says at which queuing (the last item queued, whether the
		// source ended) the first host dies.
		dies func(last int64, final bool) bool
		// then is the source the second host reads.
		then    int
		thenBig func(int) bool
		want    int64
	}{
		{
			name: "the file grows after its last chunk is queued",
			rows: 130, dies: func(_ int64, final bool) bool { return final },
			then: 164, want: 130,
		},
		{
			name: "items shrink after a chunk cut short for size is queued",
			rows: 300, big: big, dies: func(last int64, _ bool) bool { return last >= 106 },
			then: 334, want: 334,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, _ := startNATSWithUsers(t)
			counter := &countStep{calls: map[string]int{}}
			opts := func(step sdk.Block) func(*engine.Options) {
				return func(o *engine.Options) {
					o.BatchSize, o.ItemTimeout = 50, time.Second
					o.Embedded = map[string]sdk.Block{"testblock": step}
				}
			}
			first, firstBus := newHostOn(t, url, opts(stallStep{}))
			second, _ := newHostOn(t, url, opts(counter))
			dir := t.TempDir()
			csvPath := filepath.Join(dir, "items.csv")
			writeRows(t, csvPath, tc.rows, tc.big)
			wfPath := filepath.Join(dir, "wf.yaml")
			if err := os.WriteFile(wfPath, []byte("name: takeover\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: a, uses: testblock}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			wf, problems := workflow.Load(wfPath, first.Catalog())
			if len(problems) > 0 {
				t.Fatal(problems)
			}

			ctx, die := context.WithCancel(context.Background())
			dead, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			engine.SetChunksQueued(first, func(last int64, final bool) {
				if !tc.dies(last, final) {
					return
				}
				once.Do(func() {
					writeRows(t, csvPath, tc.then, tc.thenBig)
					// As far as NATS can tell, the host is gone: nothing
					// of its items' work reaches it any more.
					firstBus.NC.Close()
					die()
					close(dead)
				})
				<-release // dead: its feed goes no further
			})
			started := make(chan string, 1)
			firstDone := make(chan struct{})
			go func() {
				defer close(firstDone)
				_, _ = first.Run(ctx, wf, engine.RunOptions{OnStart: func(id string) { started <- id }})
			}()
			defer func() {
				die()
				close(release)
				<-firstDone
			}()
			id := <-started
			select {
			case <-dead:
			case <-time.After(time.Minute):
				t.Fatal("the first host queued no chunk to die after")
			}

			jctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			sum, err := second.Join(jctx, wf, id, engine.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Items != tc.want || sum.Succeeded != tc.want {
				t.Errorf("summary: %d items, %d succeeded; want %d", sum.Items, sum.Succeeded, tc.want)
			}
			counter.mu.Lock()
			defer counter.mu.Unlock()
			var twice []string
			for id, n := range counter.calls {
				if n > 1 {
					twice = append(twice, fmt.Sprintf("%s (%d times)", id, n))
				}
			}
			slices.Sort(twice)
			if len(twice) > 0 {
				t.Errorf("%d items reached the step more than once: %v", len(twice), twice)
			}
			if int64(len(counter.calls)) != tc.want {
				t.Errorf("%d items reached the step, want %d", len(counter.calls), tc.want)
			}
		})
	}
}
