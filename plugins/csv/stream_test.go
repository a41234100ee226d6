package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// TestReadMillionRowsInBoundedMemory streams a generated 1,000,000-row
// file (about 90 MB) and checks the heap stays small while it does.
func TestReadMillionRowsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a 1,000,000-row file")
	}
	const rows = 1_000_000
	const limit = 64 << 20
	path := filepath.Join(t.TempDir(), "million.csv")
	writeRows(t, path, rows)
	b := configure(t, "", map[string]any{"path": path})

	runtime.GC()
	var stats runtime.MemStats
	var peak uint64
	count, batches := 0, 0
	err := b.Read(context.Background(), sdk.ReadRequest{RunID: "r"}, func(items []sdk.Item) error {
		count += len(items)
		if batches++; batches%64 == 0 {
			runtime.ReadMemStats(&stats)
			peak = max(peak, stats.HeapInuse)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if count != rows {
		t.Errorf("read %d items, want %d", count, rows)
	}
	t.Logf("peak heap in use %.1f MiB", float64(peak)/(1<<20))
	if peak > limit {
		t.Errorf("heap in use reached %d MiB, want under %d MiB", peak>>20, limit>>20)
	}
}

// BenchmarkRead reports rows/s for the csv source and, as x-baseline, how
// many times slower it is than bare encoding/csv on the same file
// (measured in the same run).
func BenchmarkRead(b *testing.B) {
	const rows = 100_000
	path := filepath.Join(b.TempDir(), "bench.csv")
	writeRows(b, path, rows)
	block := configure(b, "", map[string]any{"path": path})
	baseline := timeBareCSV(b, path, rows)

	b.ResetTimer()
	start := time.Now()
	n := 0
	for b.Loop() {
		count := 0
		err := block.Read(context.Background(), sdk.ReadRequest{RunID: "r"}, func(items []sdk.Item) error {
			count += len(items)
			return nil
		})
		if err != nil || count != rows {
			b.Fatalf("read %d rows: %v", count, err)
		}
		n++
	}
	perRead := time.Since(start) / time.Duration(n)
	b.ReportMetric(float64(rows)/perRead.Seconds(), "rows/s")
	b.ReportMetric(float64(perRead)/float64(baseline), "x-baseline")
}

// timeBareCSV is the baseline: the best of three reads of path with
// encoding/csv alone, no items.
func timeBareCSV(tb testing.TB, path string, rows int) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 3 {
		f, err := os.Open(path)
		if err != nil {
			tb.Fatal(err)
		}
		start := time.Now()
		r := csv.NewReader(bufio.NewReaderSize(f, readBufferSize))
		r.ReuseRecord = true
		count := -1 // the header
		for {
			_, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				tb.Fatal(err)
			}
			count++
		}
		best = min(best, time.Since(start))
		f.Close()
		if count != rows {
			tb.Fatalf("baseline read %d rows, want %d", count, rows)
		}
	}
	return best
}

// writeRows writes a CSV file shaped like examples/data/people.csv.
func writeRows(tb testing.TB, path string, rows int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	fmt.Fprintln(w, "First Name,Last Name,Email,Company,Amount,Due Date,Country")
	for i := range rows {
		n := strconv.Itoa(i)
		fmt.Fprintf(w, "Person%s,Surname%s,person%s@example.com,\"Company %s, Ltd\",%d.%02d,2026-03-%02d,Country %d\n",
			n, n, n, n, i%10000, i%100, i%28+1, i%200)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}
