package server

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// DefaultMemoryLimit is the soft memory limit of a host process (serve,
// run) unless --memory-limit or GOMEMLIMIT says otherwise. Go's GC lets
// the heap grow to twice what is live before it collects, so RSS follows
// the live heap's peak with that much headroom; under the limit it
// collects earlier instead. A 100,000-item run keeps 90–135 MB
// reachable, so the limit trims headroom, not live memory. RSS also
// holds the binary's code, which the limit does not count: RSS stays
// under about 250 MiB.
const DefaultMemoryLimit = 216 << 20

// memoryLimitGiveWay is the share of the limit the live heap may take
// before the limit gives way: above it the GC would have less than a
// third of the live heap to allocate into between collections and spend
// more CPU on collecting than the memory saved is worth.
const memoryLimitGiveWay = 0.75

// MemoryLimit is a host process's soft memory limit (runtime/debug.
// SetMemoryLimit).
type MemoryLimit struct {
	// Bytes is the limit; 0 is none.
	Bytes int64
	// FromEnv: GOMEMLIMIT is set, and the Go runtime applies it as the
	// user asked, without giving way.
	FromEnv bool
}

// ParseMemoryLimit reads a limit as GOMEMLIMIT writes it (a number of
// bytes with an optional B, KiB, MiB, GiB or TiB suffix), or "off" or 0
// for none. With GOMEMLIMIT set, the flag is ignored.
func ParseMemoryLimit(s string) (MemoryLimit, error) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return MemoryLimit{FromEnv: true}, nil
	}
	s = strings.TrimSpace(s)
	if s == "" || s == "off" || s == "0" {
		return MemoryLimit{}, nil
	}
	num, unit := s, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, unit = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/unit {
		return MemoryLimit{}, fmt.Errorf("memory limit %q: give bytes with an optional KiB, MiB, GiB or TiB suffix (as GOMEMLIMIT), or off", s)
	}
	if n*unit < 64<<20 {
		return MemoryLimit{}, fmt.Errorf("memory limit %q: under 64MiB a host does little but collect garbage", s)
	}
	return MemoryLimit{Bytes: n * unit}, nil
}

func (l MemoryLimit) String() string {
	switch {
	case l.FromEnv:
		return "GOMEMLIMIT=" + os.Getenv("GOMEMLIMIT")
	case l.Bytes == 0:
		return "off"
	case l.Bytes%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", l.Bytes>>20)
	}
	return strconv.FormatInt(l.Bytes, 10)
}

// Apply sets the limit until ctx ends, and lets it give way while the
// live heap is over three quarters of it: a soft limit a host outgrows
// (a bigger run, more workflows) would otherwise have the GC collect
// almost without pause. While given way the GC paces as it does without
// a limit (GOGC); once the live heap is back under, the limit holds
// again. A limit from GOMEMLIMIT is the runtime's, and stays as it is.
func (l MemoryLimit) Apply(ctx context.Context, log *slog.Logger) {
	if l.FromEnv || l.Bytes == 0 {
		return
	}
	if log == nil {
		log = slog.Default()
	}
	debug.SetMemoryLimit(l.Bytes)
	sample := []metrics.Sample{{Name: liveHeapMetric}}
	if metrics.Read(sample); sample[0].Value.Kind() != metrics.KindUint64 {
		log.Warn("memory limit: the Go runtime does not report the live heap; the limit will not give way", "metric", liveHeapMetric)
		return
	}
	go l.giveWay(ctx, log, sample)
}

// liveHeapMetric is the heap the last GC found live.
const liveHeapMetric = "/gc/heap/live:bytes"

// giveWay checks the live heap every second until ctx ends, and then
// takes the limit off.
func (l MemoryLimit) giveWay(ctx context.Context, log *slog.Logger, sample []metrics.Sample) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	defer debug.SetMemoryLimit(math.MaxInt64)
	holding, warned := true, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		live := sample[0].Value.Uint64()
		hold := l.holds(live)
		switch {
		case hold && !holding:
			debug.SetMemoryLimit(l.Bytes)
			log.Debug("memory limit holds again", "limit", l.String(), "live_heap_mib", live>>20)
		case !hold && holding:
			debug.SetMemoryLimit(math.MaxInt64)
			lvl := slog.LevelWarn
			if warned {
				lvl = slog.LevelDebug
			}
			warned = true
			log.Log(ctx, lvl, "memory limit gives way: the live heap is over three quarters of it; set --memory-limit higher to keep RSS bounded", "limit", l.String(), "live_heap_mib", live>>20)
		}
		holding = hold
	}
}

// holds says whether the limit applies with live bytes of live heap.
func (l MemoryLimit) holds(live uint64) bool {
	return float64(live) <= memoryLimitGiveWay*float64(l.Bytes)
}
