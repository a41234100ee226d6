package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/paperflow/paperflow/host/workflow"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// BlockTarget is the Target of a workflow's sink block: what it declared in
// Configure (SinkTarget); its `if:`, which the host renders against each
// event's envelope (eventType, data…, metadata…) before the sink sees it
// (an event the condition rejects is skipped and logged as skipped; the
// sink never gets it); and its enabled: and backfill:. Errors name the
// file, line and block.
func BlockTarget(wf *workflow.Workflow, def *workflow.Block, sink Sink) (Target, error) {
	t, err := SinkTarget(wf.Name, def.ID, sink)
	if err != nil {
		return Target{}, fmt.Errorf("%s:%d: block %s: %w", wf.File, def.Line, def.ID, err)
	}
	if def.If != "" {
		t.Sink = conditionalSink{def: def, next: sink}
	}
	t.Disabled, t.NoBackfill = def.Disabled, def.NoBackfill
	return t, nil
}

// conditionalSink hands next only the events for which def's if: holds.
type conditionalSink struct {
	def  *workflow.Block
	next Sink
}

func (c conditionalSink) Deliver(ctx context.Context, evs []*blockv1.Event) ([]*blockv1.DeliveryResult, error) {
	out := make([]*blockv1.DeliveryResult, len(evs))
	var pass []*blockv1.Event
	var at []int
	for i, ev := range evs {
		ok, err := c.runs(ev)
		switch {
		case err != nil:
			// A condition that cannot be evaluated is a problem of the
			// workflow file: the event goes to the dead letters, to be
			// replayed once the file is fixed.
			out[i] = result(ev, blockv1.DeliveryStatus_DELIVERY_STATUS_FAILED, err.Error())
		case !ok:
			out[i] = result(ev, blockv1.DeliveryStatus_DELIVERY_STATUS_SKIPPED, "if: false for this event")
		default:
			pass = append(pass, ev)
			at = append(at, i)
		}
	}
	if len(pass) == 0 {
		return out, nil
	}
	got, err := c.next.Deliver(ctx, pass)
	if err != nil {
		return nil, err
	}
	if len(got) != len(pass) {
		return nil, fmt.Errorf("the sink returned %d results for %d events", len(got), len(pass))
	}
	for k, i := range at {
		out[i] = got[k]
	}
	return out, nil
}

// runs renders the block's if: against the event's envelope.
func (c conditionalSink) runs(ev *blockv1.Event) (bool, error) {
	dec := json.NewDecoder(bytes.NewReader(ev.Envelope))
	dec.UseNumber()
	var env map[string]any
	if err := dec.Decode(&env); err != nil {
		return false, fmt.Errorf("if: the event envelope is not a JSON object: %w", err)
	}
	return c.def.Runs(tags.Scope{Fields: env})
}

// result is a verdict with a plain-text reason, in the JSON form a
// webhook sender's reasons take (websend.Report).
func result(ev *blockv1.Event, status blockv1.DeliveryStatus, reason string) *blockv1.DeliveryResult {
	raw, _ := json.Marshal(map[string]string{"reason": reason})
	return &blockv1.DeliveryResult{EventId: ev.Id, Status: status, Reason: string(raw)}
}
