package delivery

import (
	"context"
	"time"

	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// Sink delivers a batch of events and returns one result per event, in
// order. *pluginhost.Block (a sink plugin process) is one; SDKSink adapts
// a sink running inside the host. An error means the whole batch failed
// (every event is retried by the target's retry policy).
type Sink interface {
	Deliver(ctx context.Context, events []*blockv1.Event) ([]*blockv1.DeliveryResult, error)
}

// SDKDeliverer is the Deliver method of an sdk.Sink, which is all the
// host needs of a sink it runs itself (such as a websend.Sender).
type SDKDeliverer interface {
	Deliver(ctx context.Context, events []sdk.Event) []sdk.Delivery
}

// SDKSink runs s inside the host, converting exactly as the plugin
// protocol does.
func SDKSink(s SDKDeliverer) Sink { return sdkSink{s} }

type sdkSink struct{ s SDKDeliverer }

func (a sdkSink) Deliver(ctx context.Context, evs []*blockv1.Event) ([]*blockv1.DeliveryResult, error) {
	in := make([]sdk.Event, len(evs))
	for i, e := range evs {
		in[i] = sdk.EventFromProto(e)
	}
	got := a.s.Deliver(ctx, in)
	out := make([]*blockv1.DeliveryResult, len(got))
	for i, d := range got {
		out[i] = sdk.DeliveryToProto(evs[i].Id, d)
	}
	return out, nil
}

// retryAfter is a result's RetryAfter as a duration.
func retryAfter(r *blockv1.DeliveryResult) time.Duration {
	return time.Duration(r.RetryAfterMs) * time.Millisecond
}
