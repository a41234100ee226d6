package bus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/hosttest"
)

// TestConcurrentCreatorsOnAFreshCluster is what two `paperflow serve`
// started at once on a new cluster do: several connections create the
// whole store at the same moment, before the cluster has settled. Every
// one must succeed.
func TestConcurrentCreatorsOnAFreshCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	url := hosttest.FreshNATSCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const creators = 4
	start := make(chan struct{})
	errs := make([]error, creators)
	var wg sync.WaitGroup
	for i := range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			b, err := bus.Open(ctx, bus.Options{URL: url, Name: fmt.Sprintf("creator-%d", i)})
			if err != nil {
				errs[i] = fmt.Errorf("open: %w", err)
				return
			}
			defer b.Close()
			if b.Replicas != 3 {
				errs[i] = fmt.Errorf("replicas %d, want 3 on a 3-node cluster", b.Replicas)
				return
			}
			if _, err := b.EnsureStore(ctx); err != nil {
				errs[i] = fmt.Errorf("ensure store: %w", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("creator %d: %v", i, err)
		}
	}
}
