package sdk_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// echoSink answers each event with the verdict its type names.
type echoSink struct{ got []sdk.Event }

func (*echoSink) Describe() sdk.Descriptor {
	return sdk.Descriptor{Name: "echo", Kind: sdk.KindSink, Version: "1", ConfigSchema: json.RawMessage(`{}`)}
}

func (*echoSink) Configure(context.Context, sdk.Config) error { return nil }

func (s *echoSink) Deliver(_ context.Context, evs []sdk.Event) []sdk.Delivery {
	s.got = evs
	out := make([]sdk.Delivery, len(evs))
	for i, e := range evs {
		switch e.Type {
		case "LATER":
			out[i] = sdk.Delivery{Status: sdk.Retry, RetryAfter: 1500 * time.Millisecond, Reason: "busy"}
		case "SHORT":
			return nil // no verdict at all
		case "GONE":
			out[i] = sdk.Delivery{Status: sdk.Failed, Reason: "410 Gone"}
		default:
			out[i] = sdk.Delivery{Status: sdk.Delivered}
		}
	}
	return out
}

// TestDeliverConversions: a sink's events and verdicts cross the protocol
// field by field, and a block that is not a sink says so.
func TestDeliverConversions(t *testing.T) {
	sink := &echoSink{}
	resp, err := sdk.InProcess(sink).Deliver(context.Background(), &blockv1.DeliverRequest{Events: []*blockv1.Event{
		{Id: "e1", Type: "OK", Envelope: []byte(`{"a":1}`), Attempt: 1},
		{Id: "e2", Type: "LATER", Attempt: 3},
		{Id: "e3", Type: "GONE", Attempt: 2},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if e := sink.got[0]; e.ID != "e1" || e.Type != "OK" || string(e.Envelope) != `{"a":1}` || e.Attempt != 1 {
		t.Errorf("event in the sink: %+v", e)
	}
	for i, want := range []*blockv1.DeliveryResult{
		{EventId: "e1", Status: blockv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED},
		{EventId: "e2", Status: blockv1.DeliveryStatus_DELIVERY_STATUS_RETRY, RetryAfterMs: 1500, Reason: "busy"},
		{EventId: "e3", Status: blockv1.DeliveryStatus_DELIVERY_STATUS_FAILED, Reason: "410 Gone"},
	} {
		got := resp.Results[i]
		if got.EventId != want.EventId || got.Status != want.Status || got.RetryAfterMs != want.RetryAfterMs || got.Reason != want.Reason {
			t.Errorf("result %d: %v, want %v", i, got, want)
		}
	}
	_, err = sdk.InProcess(sink).Deliver(context.Background(), &blockv1.DeliverRequest{Events: []*blockv1.Event{{Id: "e4", Type: "SHORT"}}})
	if status.Code(err) != codes.Internal || status.Convert(err).Message() != "block returned 0 deliveries for 1 events" {
		t.Errorf("a sink that answered no event: %v", err)
	}
	_, err = sdk.InProcess(&step{}).Deliver(context.Background(), &blockv1.DeliverRequest{})
	if status.Code(err) != codes.Unimplemented || status.Convert(err).Message() != "this block is not a sink" {
		t.Errorf("a step asked to deliver: %v", err)
	}
}
