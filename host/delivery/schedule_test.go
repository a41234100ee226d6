package delivery_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/paperflow/paperflow/host/delivery"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/retries"
	"github.com/paperflow/paperflow/plugins/websend"
)

// TestSinkRetryForms follows each way a workflow file writes a sink's
// retry: from the YAML, through the sink's Configure answer over the plugin
// protocol, to the retries.Policy the host retries it by and the waits that
// policy gives with its jitter turned off.
func TestSinkRetryForms(t *testing.T) {
	const url = "url: https://example.com/\n"
	defaults := []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour}
	for _, tc := range []struct {
		name  string
		with  string
		want  retries.Policy
		waits []time.Duration // Delay(1), Delay(2), … until it says no more
	}{
		{"left out", url, delivery.DefaultRetry, defaults},
		{"empty list", url + "retry: []\n", delivery.DefaultRetry, defaults},
		{"the default written out", url + "retry: [1m, 5m, 30m, 2h, 12h]\n", delivery.DefaultRetry, defaults},
		{"flow list", url + "retry: [1m, 5m]\n",
			retries.Policy{Waits: []time.Duration{time.Minute, 5 * time.Minute}, JitterPercent: delivery.JitterPercent},
			[]time.Duration{time.Minute, 5 * time.Minute}},
		{"block list, mixed units", url + "retry:\n  - 500ms\n  - 1h30m\n  - 0s\n",
			retries.Policy{Waits: []time.Duration{500 * time.Millisecond, 90 * time.Minute, 0}, JitterPercent: delivery.JitterPercent},
			[]time.Duration{500 * time.Millisecond, 90 * time.Minute, 0}},
		{"one retry", url + "retry: [30s]\n",
			retries.Policy{Waits: []time.Duration{30 * time.Second}, JitterPercent: delivery.JitterPercent},
			[]time.Duration{30 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tgt, err := delivery.SinkTarget("wf", "hook", configured(t, tc.with))
			if err != nil {
				t.Fatal(err)
			}
			p := tgt.RetryPolicy()
			if !reflect.DeepEqual(p, tc.want) {
				t.Fatalf("policy %+v, want %+v", p, tc.want)
			}
			if p.Attempts() != len(tc.waits)+1 {
				t.Errorf("%d attempts, want %d", p.Attempts(), len(tc.waits)+1)
			}
			p.JitterPercent = 0
			var got []time.Duration
			for n := 1; ; n++ {
				d, ok := p.Delay(n)
				if !ok {
					break
				}
				got = append(got, d)
			}
			if !slices.Equal(got, tc.waits) {
				t.Errorf("waits %v, want %v", got, tc.waits)
			}
		})
	}
	if _, err := sdk.InProcess(&retryDeclarer{}).Configure(context.Background(), configureRequest(t, url+"retry: [soon]\n")); err == nil {
		t.Error("retry: [soon] was accepted")
	}
}

// configured is a sink configured with the with: in YAML, as the webhook
// block is, declaring its policy as a block process does.
func configured(t *testing.T, with string) declaring {
	t.Helper()
	resp, err := sdk.InProcess(&retryDeclarer{}).Configure(context.Background(), configureRequest(t, with))
	if err != nil {
		t.Fatal(err)
	}
	return declaring{p: resp.GetSink()}
}

func configureRequest(t *testing.T, with string) *blockv1.ConfigureRequest {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(with), &v); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &blockv1.ConfigureRequest{Workflow: "wf", BlockId: "hook", Config: raw}
}

// retryDeclarer declares the policy of a websend configuration, as the
// webhook block does, and sends nothing.
type retryDeclarer struct{ policy sdk.SinkPolicy }

var _ sdk.PolicySink = (*retryDeclarer)(nil)

func (*retryDeclarer) Describe() sdk.Descriptor {
	return sdk.Descriptor{Name: "retry-declarer", Kind: sdk.KindSink}
}

func (b *retryDeclarer) Configure(_ context.Context, c sdk.Config) error {
	cfg, err := websend.DecodeConfig(c.With)
	if err != nil {
		return err
	}
	b.policy, err = cfg.SinkPolicy()
	return err
}

func (b *retryDeclarer) SinkPolicy() sdk.SinkPolicy { return b.policy }

func (*retryDeclarer) Deliver(context.Context, []sdk.Event) []sdk.Delivery { return nil }

// TestTargetRetryPolicy: a target may retry by any retries.Policy, not
// only listed waits: here waits that double, three attempts in all, then
// the dead letters.
func TestTargetRetryPolicy(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	rcv := newReceiver(t, "", func(w http.ResponseWriter, _ string, _ int) bool {
		w.WriteHeader(http.StatusBadGateway)
		return false
	})
	tgt := sinkTo(t, "wf", "hook", websend.Config{URL: rcv.URL}, nil)
	tgt.Retry = retries.Policy{Initial: 20 * time.Millisecond, Multiplier: 2, MaxAttempts: 3}
	start(t, options(t, b), tgt)
	publish(t, b, "wf", 1)
	as := awaitAttempts(t, b, "wf/hook", "3 attempts", func(as []delivery.Attempt) bool { return len(as) == 3 })
	for i, a := range as {
		if a.Attempt != uint64(i+1) || a.DeadLettered != (i == 2) || (a.NextAttempt != nil) == (i == 2) {
			t.Errorf("attempt %d: %+v; want dead-lettered after the third only, with a next attempt before", i+1, a)
		}
	}
	if gap := as[2].Time.Sub(as[1].Time); gap < 40*time.Millisecond {
		t.Errorf("the second wait was %s, want at least 40ms (20ms doubled)", gap)
	}
}

func TestScheduleWithoutWaits(t *testing.T) {
	for _, s := range []delivery.Schedule{nil, {}} {
		if n := s.MaxAttempts(); n != 1 {
			t.Errorf("%#v: %d attempts, want 1", s, n)
		}
		if _, ok := s.Delay(1); ok {
			t.Errorf("%#v: a wait after the only attempt", s)
		}
	}
}
