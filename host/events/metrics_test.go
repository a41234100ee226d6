package events

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/paperflow/paperflow/host/metrics"
)

// TestPublishedEventsAreCounted is not parallel: the counter is counted by
// event type, which the other tests of the package publish too.
func TestPublishedEventsAreCounted(t *testing.T) {
	pub, _, _ := eventsStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	invalid := exampleEvent(t, EmailsCreated)
	set("data/emails", []any{})(t, invalid)
	invalidRaw, _ := json.Marshal(invalid)

	tests := []struct {
		name    string
		publish func() error
		want    map[Type]float64
	}{
		{"one", func() error {
			_, err := pub.Publish(ctx, newEvent(t, "m1", DocumentsCreated))
			return err
		}, map[Type]float64{DocumentsCreated: 1}},
		{"a duplicate is not counted again", func() error {
			_, err := pub.Publish(ctx, newEvent(t, "m1", DocumentsCreated))
			return err
		}, map[Type]float64{}},
		{"a batch, with an invalid event and a duplicate", func() error {
			errs := pub.PublishBatch(ctx, [][]byte{
				newEvent(t, "m2", DocumentsCreated), newEvent(t, "m2", EmailsCreated),
				invalidRaw, newEvent(t, "m1", DocumentsCreated),
			})
			for i, err := range errs {
				if err != nil && i != 2 {
					return err
				}
			}
			return nil
		}, map[Type]float64{DocumentsCreated: 1, EmailsCreated: 1}},
	}
	types := []Type{DocumentsCreated, EmailsCreated}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := map[Type]float64{}
			for _, typ := range types {
				before[typ] = testutil.ToFloat64(metrics.EventsPublished.WithLabelValues(string(typ)))
			}
			if err := tc.publish(); err != nil {
				t.Fatal(err)
			}
			for _, typ := range types {
				if got := testutil.ToFloat64(metrics.EventsPublished.WithLabelValues(string(typ))) - before[typ]; got != tc.want[typ] {
					t.Errorf("%s: counted %v, want %v", typ, got, tc.want[typ])
				}
			}
		})
	}
}
