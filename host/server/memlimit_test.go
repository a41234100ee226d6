package server

import (
	"context"
	"math"
	"runtime/debug"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	for _, tc := range []struct {
		in    string
		bytes int64
		ok    bool
	}{
		{"", 0, true},
		{"off", 0, true},
		{"0", 0, true},
		{"216MiB", 216 << 20, true},
		{" 2GiB ", 2 << 30, true},
		{"1TiB", 1 << 40, true},
		{"1048576KiB", 1 << 30, true},
		{"134217728", 128 << 20, true},
		{"134217728B", 128 << 20, true},
		{"32MiB", 0, false}, // too small to be useful
		{"-1", 0, false},
		{"216MB", 0, false}, // GOMEMLIMIT has no decimal units
		{"lots", 0, false},
		{"9999999TiB", 0, false},
	} {
		l, err := ParseMemoryLimit(tc.in)
		if (err == nil) != tc.ok || l.Bytes != tc.bytes || l.FromEnv {
			t.Errorf("ParseMemoryLimit(%q) = %+v, %v; want %d bytes, ok %v", tc.in, l, err, tc.bytes, tc.ok)
		}
	}
}

func TestParseMemoryLimitGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	for _, in := range []string{"216MiB", "off", "nonsense"} {
		l, err := ParseMemoryLimit(in)
		if err != nil || !l.FromEnv || l.Bytes != 0 {
			t.Errorf("ParseMemoryLimit(%q) with GOMEMLIMIT set = %+v, %v; want the runtime's", in, l, err)
		}
	}
}

func TestMemoryLimitHolds(t *testing.T) {
	l := MemoryLimit{Bytes: 200 << 20}
	for _, tc := range []struct {
		live uint64
		want bool
	}{
		{0, true},
		{100 << 20, true},
		{150 << 20, true}, // three quarters
		{150<<20 + 1, false},
		{400 << 20, false},
	} {
		if got := l.holds(tc.live); got != tc.want {
			t.Errorf("holds(%d MiB) = %v, want %v", tc.live>>20, got, tc.want)
		}
	}
}

func TestMemoryLimitString(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	for _, tc := range []struct {
		l    MemoryLimit
		want string
	}{
		{MemoryLimit{}, "off"},
		{MemoryLimit{Bytes: DefaultMemoryLimit}, "216MiB"},
		{MemoryLimit{Bytes: 100<<20 + 1}, "104857601"},
	} {
		if got := tc.l.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.l, got, tc.want)
		}
		if back, err := ParseMemoryLimit(tc.l.String()); err != nil || back != tc.l {
			t.Errorf("ParseMemoryLimit(%q) = %+v, %v; want %+v", tc.l.String(), back, err, tc.l)
		}
	}
}

func TestMemoryLimitApply(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t.Cleanup(func() { debug.SetMemoryLimit(math.MaxInt64) })
	debug.SetMemoryLimit(math.MaxInt64)
	for _, tc := range []struct {
		l    MemoryLimit
		want int64
	}{
		{MemoryLimit{}, math.MaxInt64},              // off
		{MemoryLimit{FromEnv: true}, math.MaxInt64}, // the runtime's own
		{MemoryLimit{Bytes: 1 << 40}, 1 << 40},      // far above any live heap: holds
	} {
		tc.l.Apply(ctx, nil)
		if got := debug.SetMemoryLimit(-1); got != tc.want {
			t.Errorf("after %+v.Apply the runtime's limit is %d, want %d", tc.l, got, tc.want)
		}
	}
}
