package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/workflow"
)

const triggeredWorkflow = `name: intake
on: [http]
blocks:
  - id: greet
    uses: testblock
    with: {emit: true, message: "Hello {{Name}}"}
  - id: after
    uses: testblock
    with: {message: "after {{blocks.greet.message}}"}
`

// serveTriggered has the engine work on the workflow's http runs until
// the test ends.
func serveTriggered(t *testing.T, env *testEnv, wf *workflow.Workflow) *engine.Triggered {
	t.Helper()
	tr := env.engine.NewTriggered()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tr.Serve(ctx, wf, workflow.TriggerHTTP, engine.RunOptions{})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return tr
}

func TestTriggeredItemsAreWaitedFor(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	wf := env.load(t, triggeredWorkflow, "", nil)
	tr := serveTriggered(t, env, wf)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	runID := engine.TriggerRunID(wf.Name, workflow.TriggerHTTP, time.Now())
	ids := []string{"a1", "a2", "a3"}
	x, err := tr.Expect(ctx, wf, runID, ids)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	var items []engine.TriggerItem
	for i, id := range ids {
		items = append(items, engine.TriggerItem{ID: id, Fields: json.RawMessage(fmt.Sprintf(`{"Name": "n%d"}`, i))})
	}
	got, gotIDs, err := tr.Enqueue(ctx, wf, workflow.TriggerHTTP, "", items)
	if err != nil {
		t.Fatal(err)
	}
	if got != runID || fmt.Sprint(gotIDs) != fmt.Sprint(ids) {
		t.Fatalf("enqueued into %s as %v, want %s %v", got, gotIDs, runID, ids)
	}
	results, err := x.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Status != "succeeded" || len(r.Events) != 1 {
			t.Fatalf("item %d: %+v", i, r)
		}
		want := fmt.Sprintf(`"after Hello n%d"`, i)
		var out struct {
			Message json.RawMessage `json:"message"`
		}
		_ = json.Unmarshal(r.Outputs["after"], &out)
		if string(out.Message) != want {
			t.Errorf("item %d: outputs %s, want message %s", i, r.Outputs, want)
		}
		for _, ev := range r.Events {
			var env struct {
				Metadata struct {
					RunID  string `json:"run_id"`
					ItemID string `json:"item_id"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(ev, &env); err != nil || env.Metadata.RunID != runID || env.Metadata.ItemID != ids[i] {
				t.Errorf("item %d: event %s", i, ev)
			}
		}
	}

	// The same item queued again is one item with one set of events.
	x2, err := tr.Expect(ctx, wf, runID, []string{"a1"})
	if err != nil {
		t.Fatal(err)
	}
	defer x2.Close()
	if _, _, err := tr.Enqueue(ctx, wf, workflow.TriggerHTTP, runID, items[:1]); err != nil {
		t.Fatal(err)
	}
	again, err := x2.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Status != "succeeded" {
		t.Fatalf("again: %+v", again[0])
	}
	if n := len(env.published(t, runID)); n != 3 {
		t.Fatalf("%d events published for 3 items of one event each", n)
	}
	rec, err := env.engine.RunRecord(ctx, runID)
	if err != nil || rec.Status != engine.StatusOpen || rec.Trigger != workflow.TriggerHTTP {
		t.Fatalf("run record %+v, %v", rec, err)
	}
}
