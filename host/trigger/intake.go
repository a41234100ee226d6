// Package trigger takes items from the live triggers of a workflow (the
// HTTP items API and public forms) onto the engine's durable path, with
// idempotency keys honoured across every host of a cluster and an
// optional wait for the items' outcomes.
package trigger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/workflow"
)

// IdempotencyBucket keeps the first answer to each Idempotency-Key for a day.
const IdempotencyBucket = "paperflow_idempotency"

// IdempotencyTTL is how long a key is remembered.
const IdempotencyTTL = 24 * time.Hour

// MaxWait bounds ?wait=: a waiting request holds a connection.
const MaxWait = 2 * time.Minute

// claimTimeout is how long a request may hold a key's claim before
// another request with the key takes it over (its host died meanwhile).
const claimTimeout = time.Minute

// OpenIdempotency makes (or opens) the bucket of idempotency keys.
func OpenIdempotency(ctx context.Context, b *bus.Bus) (jetstream.KeyValue, error) {
	return b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: IdempotencyBucket, TTL: IdempotencyTTL})
}

// Items is where the intake queues items and waits for them
// (engine.Triggered).
type Items interface {
	Expect(ctx context.Context, wf *workflow.Workflow, runID string, ids []string) (*engine.Expectation, error)
	Enqueue(ctx context.Context, wf *workflow.Workflow, trigger, runID string, items []engine.TriggerItem) (string, []string, error)
}

// Intake takes submissions for workflows' http and form triggers.
type Intake struct {
	Items Items
	// Keys is the idempotency bucket (OpenIdempotency).
	Keys jetstream.KeyValue
	Log  *slog.Logger
}

// Submission is one request's items.
type Submission struct {
	Fields []json.RawMessage // one JSON object per item
	Origin string
	// Key is the Idempotency-Key; empty: none.
	Key string
	// Digest identifies the request's content, so a key reused with
	// another body is refused rather than answered with the first.
	Digest string
	Wait   time.Duration
}

// Answer is an HTTP status and a JSON body.
type Answer struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

// keyRecord is what the bucket holds per key: the claim, then the answer.
type keyRecord struct {
	RunID   string    `json:"run_id"`
	Items   []string  `json:"items"`
	Digest  string    `json:"digest"`
	Claimed time.Time `json:"claimed"`
	Answer  *Answer   `json:"answer,omitempty"`
}

// ErrKeyReused is a key sent again with a different body.
var ErrKeyReused = errors.New("this Idempotency-Key was used with a different request within the last 24 h: use a new key for a new request")

// ErrKeyBusy is a key whose first request is still being answered.
var ErrKeyBusy = errors.New("a request with this Idempotency-Key is still being answered: try again in a second")

// Submit queues a submission's items into the trigger's run and answers
// 202 {run_id, items: [{item_id}]}, or with a wait, once every item is
// done, 200 {status, outputs, events} (one item) or 200 {run_id, items:
// [...]} (several). The same Key within 24 h gets the first answer and
// queues nothing.
func (in *Intake) Submit(ctx context.Context, wf *workflow.Workflow, trigger string, s Submission) (Answer, error) {
	if len(s.Fields) == 0 {
		return Answer{}, errors.New("no items: send a JSON object, an array of objects, NDJSON or a form")
	}
	runID := engine.TriggerRunID(wf.Name, trigger, time.Now())
	ids := make([]string, len(s.Fields))
	var rev uint64
	key := ""
	if s.Key != "" {
		key = idempotencyKey(wf.Name, s.Key)
		base := itemIDBase(wf.Name, s.Key)
		for i := range ids {
			ids[i] = base
			if len(ids) > 1 {
				ids[i] = base + "-" + strconv.Itoa(i+1)
			}
		}
		rec := keyRecord{RunID: runID, Items: ids, Digest: s.Digest, Claimed: time.Now().UTC()}
		raw, _ := json.Marshal(rec)
		r, err := in.Keys.Create(ctx, key, raw)
		switch {
		case errors.Is(err, jetstream.ErrKeyExists):
			prev, prevRev, answer, err := in.previous(ctx, key, s.Digest)
			if err != nil || answer != nil {
				return derefAnswer(answer), err
			}
			// The claim's request died before it answered: take it over,
			// with the first claim's run and item ids, so the items are
			// queued once (the queue drops a repeat by message id).
			prev.Claimed = time.Now().UTC()
			raw, _ := json.Marshal(prev)
			if rev, err = in.Keys.Update(ctx, key, raw, prevRev); err != nil {
				return Answer{}, ErrKeyBusy
			}
			runID, ids = prev.RunID, prev.Items
		case err != nil:
			return Answer{}, fmt.Errorf("record the Idempotency-Key: %w", err)
		default:
			rev = r
		}
	} else {
		for i := range ids {
			ids[i] = engine.NewItemID()
		}
	}
	items := make([]engine.TriggerItem, len(s.Fields))
	for i, f := range s.Fields {
		items[i] = engine.TriggerItem{ID: ids[i], Origin: s.Origin, Fields: f}
	}
	var x *engine.Expectation
	if s.Wait > 0 {
		var err error
		if x, err = in.Items.Expect(ctx, wf, runID, ids); err != nil {
			return Answer{}, err
		}
		defer x.Close()
	}
	if _, _, err := in.Items.Enqueue(ctx, wf, trigger, runID, items); err != nil {
		return Answer{}, err
	}
	answer := accepted(runID, ids)
	if x != nil {
		wctx, cancel := context.WithTimeout(ctx, min(s.Wait, MaxWait))
		results, err := x.Wait(wctx)
		cancel()
		if err != nil {
			return Answer{}, err
		}
		answer = finished(runID, results)
	}
	if key != "" {
		in.remember(ctx, key, rev, runID, ids, s.Digest, answer)
	}
	return answer, nil
}

// previous reads a key's record: its answer when it has one, or the
// claim to take over when its request has been silent for claimTimeout.
func (in *Intake) previous(ctx context.Context, key, digest string) (keyRecord, uint64, *Answer, error) {
	ent, err := in.Keys.Get(ctx, key)
	if err != nil {
		return keyRecord{}, 0, nil, fmt.Errorf("read the Idempotency-Key: %w", err)
	}
	var rec keyRecord
	if err := json.Unmarshal(ent.Value(), &rec); err != nil {
		return keyRecord{}, 0, nil, fmt.Errorf("Idempotency-Key record: %w", err)
	}
	switch {
	case rec.Digest != digest:
		return rec, 0, nil, ErrKeyReused
	case rec.Answer != nil:
		return rec, 0, rec.Answer, nil
	case time.Since(rec.Claimed) < claimTimeout:
		return rec, 0, nil, ErrKeyBusy
	}
	return rec, ent.Revision(), nil, nil
}

// remember stores the answer under the key. The items are queued by now,
// so a failure here is logged, not answered: a repeat then queues them
// again, which the queue and the checkpoints absorb.
func (in *Intake) remember(ctx context.Context, key string, rev uint64, runID string, ids []string, digest string, a Answer) {
	raw, _ := json.Marshal(keyRecord{RunID: runID, Items: ids, Digest: digest, Claimed: time.Now().UTC(), Answer: &a})
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := in.Keys.Update(rctx, key, raw, rev); err != nil && in.Log != nil {
		in.Log.Warn("record the answer to an Idempotency-Key", "run", runID, "err", err)
	}
}

func derefAnswer(a *Answer) Answer {
	if a == nil {
		return Answer{}
	}
	return *a
}

// idempotencyKey is the bucket key of a workflow's Idempotency-Key: any
// text the client sends becomes a valid key of fixed length.
func idempotencyKey(workflow, key string) string {
	sum := sha256.Sum256([]byte(key))
	return workflow + "." + hex.EncodeToString(sum[:20])
}

// itemIDBase derives item ids from an Idempotency-Key, so a repeat is the
// same message in the queue.
func itemIDBase(workflow, key string) string {
	sum := sha256.Sum256([]byte(workflow + "\x00" + key))
	return "k" + hex.EncodeToString(sum[:12])
}

type itemRef struct {
	ItemID string `json:"item_id"`
}

func accepted(runID string, ids []string) Answer {
	refs := make([]itemRef, len(ids))
	for i, id := range ids {
		refs[i] = itemRef{ItemID: id}
	}
	raw, _ := json.Marshal(map[string]any{"run_id": runID, "items": refs})
	return Answer{Status: http.StatusAccepted, Body: raw}
}

// finished answers a wait: 200 when every item is done, else 202 with
// what is known.
func finished(runID string, results []engine.ItemResult) Answer {
	status := http.StatusOK
	for _, r := range results {
		if r.Status == "pending" {
			status = http.StatusAccepted
		}
	}
	if len(results) == 1 {
		r := results[0]
		raw, _ := json.Marshal(map[string]any{"run_id": runID, "item_id": r.ItemID, "status": r.Status, "block": r.Block, "error": r.Error, "outputs": r.Outputs, "events": r.Events})
		return Answer{Status: status, Body: raw}
	}
	raw, _ := json.Marshal(map[string]any{"run_id": runID, "items": results})
	return Answer{Status: status, Body: raw}
}
