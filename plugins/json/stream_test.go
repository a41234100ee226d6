package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// TestReadMillionRecordsInBoundedMemory streams a generated array and an
// NDJSON file of 1,000,000 records each and checks the heap stays small.
func TestReadMillionRecordsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads two 1,000,000-record files")
	}
	const records = 1_000_000
	const limit = 64 << 20
	for _, format := range []string{"array", "ndjson"} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "million."+format)
			writeRecords(t, path, format, records)
			b := configure(t, "", map[string]any{"path": path})

			runtime.GC()
			var stats runtime.MemStats
			var peak uint64
			count, batches := 0, 0
			err := b.Read(context.Background(), sdk.ReadRequest{RunID: "r"}, func(items []sdk.Item) error {
				for _, it := range items {
					if it.Err != "" {
						t.Fatalf("unexpected error item: %s", it.Err)
					}
				}
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
			if count != records {
				t.Errorf("read %d items, want %d", count, records)
			}
			t.Logf("peak heap in use %.1f MiB", float64(peak)/(1<<20))
			if peak > limit {
				t.Errorf("heap in use reached %d MiB, want under %d MiB", peak>>20, limit>>20)
			}
		})
	}
}

// BenchmarkRead reports records/s as rows/s for a top-level array and for
// NDJSON and, as x-baseline, how many times slower that is than decoding
// the same file into json.RawMessage values with a bare json.Decoder
// (measured in the same run).
func BenchmarkRead(b *testing.B) {
	const records = 100_000
	for _, format := range []string{"array", "ndjson"} {
		b.Run(format, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "bench."+format)
			writeRecords(b, path, format, records)
			block := configure(b, "", map[string]any{"path": path})
			baseline := timeBareDecoder(b, path, format, records)

			b.ResetTimer()
			start := time.Now()
			n := 0
			for b.Loop() {
				count := 0
				err := block.Read(context.Background(), sdk.ReadRequest{RunID: "r"}, func(items []sdk.Item) error {
					count += len(items)
					return nil
				})
				if err != nil || count != records {
					b.Fatalf("read %d records: %v", count, err)
				}
				n++
			}
			perRead := time.Since(start) / time.Duration(n)
			b.ReportMetric(float64(records)/perRead.Seconds(), "rows/s")
			b.ReportMetric(float64(perRead)/float64(baseline), "x-baseline")
		})
	}
}

// timeBareDecoder is the baseline: the best of three reads of path with a
// json.Decoder alone (Token for the brackets, Decode into RawMessage).
func timeBareDecoder(tb testing.TB, path, format string, records int) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 3 {
		f, err := os.Open(path)
		if err != nil {
			tb.Fatal(err)
		}
		start := time.Now()
		dec := json.NewDecoder(bufio.NewReaderSize(f, readBufferSize))
		if format == "array" {
			if _, err := dec.Token(); err != nil {
				tb.Fatal(err)
			}
		}
		count := 0
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				tb.Fatal(err)
			}
			count++
		}
		best = min(best, time.Since(start))
		f.Close()
		if count != records {
			tb.Fatalf("baseline read %d records, want %d", count, records)
		}
	}
	return best
}

// writeRecords writes records shaped like examples/data/orders.ndjson, as
// a pretty-ish array (one element per line) or as NDJSON.
func writeRecords(tb testing.TB, path, format string, records int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	sep := "\n"
	if format == "array" {
		fmt.Fprintln(w, "[")
	}
	for i := range records {
		if format == "array" {
			sep = ",\n"
			if i == records-1 {
				sep = "\n"
			}
		}
		fmt.Fprintf(w, `{"order_id":"A-%d","customer":{"name":"Person %d","email":"person%d@example.com"},"items":[{"description":"Item %d","quantity":%d,"unit_price":%d.50}],"total":%d.50}%s`,
			i, i, i, i, i%7+1, i%100, i%1000, sep)
	}
	if format == "array" {
		fmt.Fprintln(w, "]")
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}
