package retries

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestBackoffGrowsAndCaps(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Multiplier: 3, Cap: time.Second, MaxAttempts: 5}
	b := p.Backoff()
	var got []time.Duration
	for {
		d, stop := b.Next()
		if stop {
			break
		}
		got = append(got, d)
	}
	want := []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 900 * time.Millisecond, time.Second}
	if len(got) != len(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
}

func TestDelay(t *testing.T) {
	listed := Policy{Waits: []time.Duration{time.Minute, 5 * time.Minute}}
	doubling := Policy{Initial: time.Second, MaxAttempts: 4}
	for _, tc := range []struct {
		p    Policy
		n    int
		want time.Duration
		ok   bool
	}{
		{listed, 0, 0, false},
		{listed, 1, time.Minute, true},
		{listed, 2, 5 * time.Minute, true},
		{listed, 3, 0, false},
		{doubling, 1, time.Second, true},
		{doubling, 3, 4 * time.Second, true},
		{doubling, 4, 0, false},
	} {
		if d, ok := tc.p.Delay(tc.n); d != tc.want || ok != tc.ok {
			t.Errorf("%+v Delay(%d) = %v, %v; want %v, %v", tc.p, tc.n, d, ok, tc.want, tc.ok)
		}
	}
	if got := listed.Attempts(); got != 3 {
		t.Errorf("listed.Attempts() = %d, want 3", got)
	}
}

func TestJitterStaysNear(t *testing.T) {
	p := Policy{Initial: time.Second, JitterPercent: 10}
	for range 100 {
		d, _ := p.Delay(1)
		if d < 900*time.Millisecond || d > 1100*time.Millisecond {
			t.Fatalf("Delay(1) = %v, want within 10%% of 1s", d)
		}
	}
}

var errGone = errors.New("gone")

func TestDo(t *testing.T) {
	p := Policy{Initial: time.Millisecond, MaxAttempts: 3, NonRetryable: []error{errGone}}
	flaky := errors.New("flaky")
	for _, tc := range []struct {
		name  string
		fail  error
		calls int
		want  error
	}{
		{"retried until the attempts run out", flaky, 3, flaky},
		{"a non-retryable class stops at once", errGone, 1, errGone},
		{"a permanent mark stops at once", Permanent(flaky), 1, flaky},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := p.Do(context.Background(), func(context.Context) error {
				calls++
				return tc.fail
			})
			if calls != tc.calls || !errors.Is(err, tc.want) {
				t.Fatalf("%d calls, err %v; want %d calls, err %v", calls, err, tc.calls, tc.want)
			}
			if errors.As(err, new(*permanentError)) {
				t.Fatalf("err %v keeps its Permanent mark", err)
			}
		})
	}
	calls := 0
	v, err := Value(context.Background(), p, func(context.Context) (int, error) {
		if calls++; calls < 2 {
			return 0, flaky
		}
		return 42, nil
	})
	if v != 42 || err != nil || calls != 2 {
		t.Fatalf("Value = %d, %v after %d calls; want 42, nil after 2", v, err, calls)
	}
}

func TestParseWaits(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    []time.Duration
		wantErr string
	}{
		{nil, nil, ""},
		{[]string{}, nil, ""},
		{[]string{"1m", "1h30m", "0s"}, []time.Duration{time.Minute, 90 * time.Minute, 0}, ""},
		{[]string{"1m", "soon"}, nil, "retry[1]: not a duration such as 5m"},
		{[]string{"-1s"}, nil, "retry[0]: not a duration such as 5m"},
	} {
		got, err := ParseWaits(tc.in)
		if gotErr := fmt.Sprint(err); (tc.wantErr == "" && err != nil) || (tc.wantErr != "" && gotErr != tc.wantErr) {
			t.Errorf("ParseWaits(%q) error %v, want %q", tc.in, err, tc.wantErr)
		}
		if !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("ParseWaits(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
