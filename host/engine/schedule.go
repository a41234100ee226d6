package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/pluginhost"
)

// maxScheduleWait bounds one wait of a callback in the queue, so a host
// that restarts with another clock or config looks at it again.
const maxScheduleWait = time.Hour

// ServeSchedules delivers due callbacks registered through Host.Schedule.
// The schedules stream is a work queue shared by every host: a callback
// is taken by one host, held back (NakWithDelay) until due, and
// acknowledged after the block handled it, so it fires once.
func (e *Engine) ServeSchedules(ctx context.Context, lookup func(workflow, block string) *pluginhost.Block) error {
	cons, err := e.opts.Store.Schedules.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "paperflow-schedules", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute,
		MaxDeliver: -1,
	})
	if err != nil {
		return fmt.Errorf("schedules consumer: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var s scheduled
		if err := json.Unmarshal(m.Data(), &s); err != nil {
			e.log.Error("unreadable scheduled callback; dropping", "err", err)
			_ = m.Term()
			return
		}
		if wait := time.Until(time.UnixMilli(s.At)); wait > 0 {
			_ = m.NakWithDelay(min(wait, maxScheduleWait))
			return
		}
		b := lookup(s.Workflow, s.Block)
		if b == nil {
			// This host does not serve that workflow; another may.
			_ = m.NakWithDelay(30 * time.Second)
			return
		}
		_ = m.InProgress()
		if err := b.Scheduled(ctx, s.Key, s.Payload); err != nil {
			e.log.Warn("scheduled callback failed; will retry", "workflow", s.Workflow, "block", s.Block, "key", s.Key, "err", err)
			_ = m.NakWithDelay(30 * time.Second)
			return
		}
		_ = m.Ack()
	})
	if err != nil {
		return fmt.Errorf("schedules consumer: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}
