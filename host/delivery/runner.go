package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/metrics"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
)

// runner feeds one target: it reads its consumers, cuts the messages into
// batches as they come (it never waits to fill a batch, so latency stays
// low at low rates) and delivers up to InFlight batches at once.
type runner struct {
	o    Options
	t    Target
	log  *slog.Logger
	cons []jetstream.Consumer
	// filter drops the events a consumer hands out that the target does
	// not take (on a server that filters on one subject only).
	filter consumerFilter

	ctx    context.Context // ends: take no more messages
	cancel context.CancelFunc
	// work bounds the batches in flight; it ends StopGrace after ctx.
	work       context.Context
	cancelWork context.CancelFunc
	batches    sync.WaitGroup
	done       chan struct{}
}

func newRunner(parent context.Context, o Options, t Target, filter consumerFilter, consumers ...jetstream.Consumer) *runner {
	ctx, cancel := context.WithCancel(parent)
	work, cancelWork := context.WithCancel(context.WithoutCancel(parent))
	return &runner{
		o: o, t: t, log: o.Log.With("sink", t.Ref()), cons: consumers, filter: filter,
		ctx: ctx, cancel: cancel, work: work, cancelWork: cancelWork, done: make(chan struct{}),
	}
}

func (r *runner) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(r.o.StopGrace):
		r.cancelWork()
		<-r.done
	}
	r.cancelWork()
}

func (r *runner) run() {
	defer close(r.done)
	untrack := metrics.TrackQueue(r.t.Ref(), r.queueDepth)
	defer untrack()
	msgs := make(chan jetstream.Msg, r.o.BatchSize)
	var pumps sync.WaitGroup
	var iters []jetstream.MessagesContext
	for _, c := range r.cons {
		it, err := c.Messages(jetstream.PullMaxMessages(r.o.BatchSize * r.o.InFlight))
		if err != nil {
			r.log.Error("cannot read the sink's consumer; this sink gets nothing until the host restarts", "err", err)
			continue
		}
		iters = append(iters, it)
		pumps.Go(func() { r.pump(it, msgs) })
	}

	slots := make(chan struct{}, r.o.InFlight)
	r.batch(msgs, slots)

	// Stop: hand back what was read but not delivered, so the next
	// dispatcher gets it at once rather than after AckWait.
	for _, it := range iters {
		it.Drain()
	}
	pumps.Wait()
	close(msgs)
	for m := range msgs {
		_ = m.Nak()
	}
	r.batches.Wait()
}

// queueDepth reads the target's consumers: events handed out and not
// settled (waiting for a retry, or in flight) and events not handed out.
func (r *runner) queueDepth(ctx context.Context) (retryPending, backlog uint64, err error) {
	for _, c := range r.cons {
		info, err := c.Info(ctx)
		if err != nil {
			return 0, 0, err
		}
		retryPending += uint64(max(info.NumAckPending, 0))
		backlog += info.NumPending
	}
	return retryPending, backlog, nil
}

// batch cuts msgs into batches until ctx ends.
func (r *runner) batch(msgs chan jetstream.Msg, slots chan struct{}) {
	for {
		var first jetstream.Msg
		select {
		case <-r.ctx.Done():
			return
		case first = <-msgs:
		}
		batch := []jetstream.Msg{first}
	fill:
		for len(batch) < r.o.BatchSize {
			select {
			case m := <-msgs:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		select {
		case slots <- struct{}{}:
		case <-r.ctx.Done():
			for _, m := range batch {
				_ = m.Nak()
			}
			return
		}
		r.batches.Add(1)
		go func() {
			defer func() { <-slots; r.batches.Done() }()
			r.deliver(batch)
		}()
	}
}

// pump moves messages from a consumer into msgs.
func (r *runner) pump(it jetstream.MessagesContext, msgs chan<- jetstream.Msg) {
	for {
		m, err := it.Next()
		if err != nil {
			switch {
			case errors.Is(err, jetstream.ErrMsgIteratorClosed):
				return
			case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
				if r.ctx.Err() == nil {
					r.log.Warn("the sink's consumer was deleted; delivery to it stops", "err", err)
				}
				return
			}
			// Missed heartbeats, reconnects: the iterator recovers by itself.
			r.log.Debug("reading the sink's consumer", "err", err)
			select {
			case <-r.ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if !r.takes(m) {
			_ = m.Ack()
			continue
		}
		select {
		case msgs <- m:
		case <-r.ctx.Done():
			_ = m.Nak()
		}
	}
}

// takes reports whether the target takes m's event: always, unless its
// consumer's filter is wider than the target (consumerFilter). A replay is
// judged by the subject its event was published on.
func (r *runner) takes(m jetstream.Msg) bool {
	if r.filter.host == nil {
		return true
	}
	subject := m.Subject()
	if orig := m.Headers().Get(HeaderSubject); orig != "" && strings.HasPrefix(subject, "paperflow.replays.") {
		subject = orig
	}
	return r.filter.takes(subject)
}

// msgInfo is what the dispatcher needs to know about a message besides
// the event.
type msgInfo struct {
	attempt uint64
	seq     uint64
	stream  string
	replay  bool
}

func (r *runner) event(m jetstream.Msg) (*blockv1.Event, msgInfo) {
	var info msgInfo
	if md, err := m.Metadata(); err == nil {
		info = msgInfo{attempt: md.NumDelivered, seq: md.Sequence.Stream, stream: md.Stream, replay: md.Stream == ReplaysStream}
	}
	h := m.Headers()
	id := h.Get(HeaderEventID)
	if id == "" {
		id = h.Get(jetstream.MsgIDHeader)
	}
	if id == "" {
		var env struct {
			EventID string `json:"eventId"`
		}
		_ = json.Unmarshal(m.Data(), &env)
		id = env.EventID
	}
	typ := h.Get(HeaderEventType)
	if typ == "" {
		typ = m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:]
	}
	return &blockv1.Event{Id: id, Type: typ, Envelope: m.Data(), Attempt: info.attempt}, info
}

// deliver hands one batch to the sink and settles every event.
func (r *runner) deliver(batch []jetstream.Msg) {
	evs := make([]*blockv1.Event, len(batch))
	infos := make([]msgInfo, len(batch))
	for i, m := range batch {
		evs[i], infos[i] = r.event(m)
	}
	stopBeat := bus.KeepInProgress(batch, r.o.AckWait/3)
	start := time.Now()
	results, err := r.t.Sink.Deliver(r.work, evs)
	elapsed := time.Since(start)
	stopBeat()
	if r.work.Err() != nil {
		// Stopped mid-delivery: whether the receiver got the events is not
		// known, so they are offered again (at least once).
		for _, m := range batch {
			_ = m.Nak()
		}
		return
	}
	if err == nil && len(results) != len(evs) {
		err = fmt.Errorf("the sink returned %d results for %d events", len(results), len(evs))
	}
	s := settlement{r: r, now: time.Now()}
	for i, m := range batch {
		var res *blockv1.DeliveryResult
		if err == nil {
			res = results[i]
		}
		s.settle(m, evs[i], infos[i], res, err, elapsed)
	}
	s.finish()
}

// settlement settles the events of one batch: dead letters and the
// batch's attempt records are published without waiting in between, and an
// event that goes to the dead letters is acked only once its dead letter is
// stored.
type settlement struct {
	r        *runner
	now      time.Time
	attempts []Attempt
	logs     []jetstream.PubAckFuture
	dead     []jetstream.PubAckFuture
	deadMsgs []jetstream.Msg
}

func (s *settlement) settle(m jetstream.Msg, ev *blockv1.Event, info msgInfo, res *blockv1.DeliveryResult, callErr error, elapsed time.Duration) {
	r := s.r
	a := Attempt{
		Time: s.now, Workflow: token(r.t.Workflow), Sink: r.t.Name, EventID: ev.Id, EventType: ev.Type,
		Attempt: info.attempt, Replay: info.replay, Seq: info.seq, LatencyMS: float64(elapsed.Microseconds()) / 1000,
	}
	status := blockv1.DeliveryStatus_DELIVERY_STATUS_UNSPECIFIED
	var after time.Duration
	if callErr != nil {
		a.Status, a.Reason = "error", clip(r.o.Redact(callErr.Error()), maxReason)
	} else {
		status, after = res.Status, retryAfter(res)
		rep, structured := parseReason(res.Reason)
		a.Reason = clip(r.o.Redact(rep.Reason), maxReason)
		if structured {
			a.HTTPStatus, a.Response = rep.HTTPStatus, r.o.Redact(rep.Response)
			if rep.LatencyMS > 0 {
				a.LatencyMS = rep.LatencyMS
			}
		}
	}

	switch status {
	case blockv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED:
		a.Status = "delivered"
		_ = m.Ack()
	case blockv1.DeliveryStatus_DELIVERY_STATUS_SKIPPED:
		a.Status = "skipped"
		_ = m.Ack()
	case blockv1.DeliveryStatus_DELIVERY_STATUS_FAILED:
		a.Status = "failed"
		s.deadLetter(m, ev, info, &a, a.Reason)
	default: // RETRY, an error calling the sink, or no verdict
		if a.Status == "" {
			a.Status = "retry"
			if status != blockv1.DeliveryStatus_DELIVERY_STATUS_RETRY {
				a.Status, a.Reason = "error", "the sink gave no verdict for this event"
			}
		}
		wait, more := r.t.Retry.Delay(int(info.attempt))
		if !more {
			s.deadLetter(m, ev, info, &a, fmt.Sprintf("gave up after %d attempts; last: %s", info.attempt, a.Reason))
			break
		}
		if after <= 0 {
			after = wait
		}
		next := s.now.Add(after)
		a.NextAttempt = &next
		if after > 0 {
			_ = m.NakWithDelay(after)
		} else {
			_ = m.Nak()
		}
	}
	metrics.Delivery(r.t.Ref(), outcome(a))
	s.log(a, ev)
}

// outcome is an attempt's outcome in paperflow_deliveries_total.
func outcome(a Attempt) string {
	switch {
	case a.DeadLettered && (a.HTTPStatus == http.StatusGone || strings.Contains(a.Reason, "410 Gone")):
		return metrics.Disabled
	case a.DeadLettered:
		return metrics.Dead
	case a.Status == "delivered":
		return metrics.Delivered
	case a.Status == "skipped":
		return metrics.Skipped
	default: // retry, error, or failed but not stored as a dead letter yet
		return metrics.Retry
	}
}

func (s *settlement) deadLetter(m jetstream.Msg, ev *blockv1.Event, info msgInfo, a *Attempt, reason string) {
	r := s.r
	a.DeadLettered = true
	dl := nats.NewMsg(DeadLetterSubject(r.t.Workflow, r.t.Name))
	dl.Data = m.Data()
	dl.Header.Set(HeaderEventID, ev.Id)
	dl.Header.Set(HeaderEventType, ev.Type)
	dl.Header.Set(HeaderWorkflow, token(r.t.Workflow))
	dl.Header.Set(HeaderSink, r.t.Name)
	dl.Header.Set(HeaderReason, oneLine(clip(reason, maxReason)))
	dl.Header.Set(HeaderAttempts, strconv.FormatUint(info.attempt, 10))
	subject := m.Subject()
	if info.replay {
		subject = m.Headers().Get(HeaderSubject)
	}
	dl.Header.Set(HeaderSubject, subject)
	// One dead letter per message even if this host dies before the ack.
	dl.Header.Set(jetstream.MsgIDHeader, "dl."+consumerName(r.t.Workflow, r.t.Name)+"."+info.stream+"."+strconv.FormatUint(info.seq, 10))
	f, err := r.o.JS.PublishMsgAsync(dl)
	if err != nil {
		r.log.Warn("could not dead-letter an event; it will be tried again", "event", ev.Id, "err", err)
		_ = m.NakWithDelay(5 * time.Second)
		return
	}
	s.dead = append(s.dead, f)
	s.deadMsgs = append(s.deadMsgs, m)
}

func (s *settlement) log(a Attempt, ev *blockv1.Event) {
	r := s.r
	lvl := slog.LevelDebug
	if a.Status != "delivered" && a.Status != "skipped" {
		lvl = slog.LevelInfo
	}
	if a.DeadLettered {
		lvl = slog.LevelWarn
	}
	if r.log.Enabled(context.Background(), lvl) {
		o := origin(ev.Envelope)
		r.log.Log(context.Background(), lvl, "delivery attempt", "event", a.EventID, "type", a.EventType,
			"run", o.RunID, "item", o.ItemID, "attempt", a.Attempt, "status", a.Status,
			"http_status", a.HTTPStatus, "reason", a.Reason, "dead_lettered", a.DeadLettered)
	}
	s.attempts = append(s.attempts, a)
}

// eventOrigin is the run and item an event came from, for logs.
type eventOrigin struct {
	RunID  string `json:"run_id"`
	ItemID string `json:"item_id"`
}

// origin reads an envelope's metadata; an envelope without it gives
// empty fields.
func origin(envelope []byte) eventOrigin {
	var env struct {
		Metadata eventOrigin `json:"metadata"`
	}
	_ = json.Unmarshal(envelope, &env)
	return env.Metadata
}

// attemptsPerRecord bounds the attempts stored in one message of the
// attempt log (a batch's attempts share messages: one JetStream write per
// batch rather than per event).
const attemptsPerRecord = 128

// publishAttempts writes the batch's attempts to the attempt log.
func (s *settlement) publishAttempts() {
	r := s.r
	for start := 0; start < len(s.attempts); start += attemptsPerRecord {
		chunk := s.attempts[start:min(start+attemptsPerRecord, len(s.attempts))]
		raw, err := json.Marshal(chunk)
		if err != nil {
			continue
		}
		msg := nats.NewMsg(AttemptSubject(r.t.Workflow, r.t.Name))
		msg.Data = raw
		f, err := r.o.JS.PublishMsgAsync(msg)
		if err != nil {
			r.log.Warn("could not log delivery attempts", "attempts", len(chunk), "err", err)
			continue
		}
		s.logs = append(s.logs, f)
	}
}

// finish waits for the batch's publishes and acks the dead-lettered events
// whose dead letter is stored.
func (s *settlement) finish() {
	s.publishAttempts()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, f := range s.dead {
		if err := wait(ctx, f); err != nil {
			s.r.log.Warn("could not dead-letter an event; it will be tried again", "err", err)
			_ = s.deadMsgs[i].NakWithDelay(5 * time.Second)
			continue
		}
		_ = s.deadMsgs[i].Ack()
	}
	for _, f := range s.logs {
		if err := wait(ctx, f); err != nil {
			s.r.log.Warn("could not log a delivery attempt", "err", err)
		}
	}
}

func wait(ctx context.Context, f jetstream.PubAckFuture) error {
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
