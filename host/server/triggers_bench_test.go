package server

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestItemsBench prints the figures of `make bench` for the items API: items
// per second through POST /api/workflows/{name}/items in batches of 100 to
// a workflow of three no-op steps (queued, and through the steps), and the
// p50/p99 latency of ?wait= at 100 requests per second.
func TestItemsBench(t *testing.T) {
	if os.Getenv("PAPERFLOW_BENCH") == "" {
		t.Skip("set PAPERFLOW_BENCH=1 (make bench)")
	}
	base, r := startItemsHost(t)
	url := base + "/api/workflows/intake/items"

	const batches, size, clients = 100, 100, 8
	var batch bytes.Buffer
	for i := range size {
		fmt.Fprintf(&batch, "{\"i\": %d}\n", i)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < batches; i += clients {
				if code, _ := postItems(t, url, "application/x-ndjson", batch.Bytes(), nil); code != http.StatusAccepted {
					t.Errorf("batch %d: %d", i, code)
					return
				}
			}
		}()
	}
	wg.Wait()
	queued := time.Since(start)
	outcomes(t, r, batches*size)
	done := time.Since(start)
	n := float64(batches * size)
	fmt.Printf("items API, batches of %d, 3 no-op steps: %.0f items/s queued, %.0f items/s through the steps (%d items)\n",
		size, n/queued.Seconds(), n/done.Seconds(), batches*size)

	// ?wait= at 100 requests per second for 5 seconds.
	const rate, seconds = 100, 5
	lat := make([]time.Duration, 0, rate*seconds)
	var mu sync.Mutex
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	for i := range rate * seconds {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			code, a := postItems(t, url+"?wait=30s", "application/json", []byte(fmt.Sprintf(`{"w": %d}`, i)), nil)
			if code != http.StatusOK || a.Status != "succeeded" {
				t.Errorf("wait %d: %d %+v", i, code, a)
				return
			}
			mu.Lock()
			lat = append(lat, time.Since(t0))
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	if len(lat) == 0 {
		t.Fatal("no answers")
	}
	fmt.Printf("items API ?wait= at %d requests/s: p50 %s, p99 %s (%d requests)\n", rate,
		lat[len(lat)/2].Round(100*time.Microsecond), lat[len(lat)*99/100].Round(100*time.Microsecond), len(lat))
}
