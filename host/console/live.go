package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/paperflow/paperflow/host/events"
)

// sse is a Server-Sent Events stream; writes are serialised.
type sse struct {
	mu sync.Mutex
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startSSE(w http.ResponseWriter) *sse {
	rc := http.NewResponseController(w)
	// A stream outlives the server's write timeout for pages.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	return &sse{w: w, rc: rc}
}

func (s *sse) send(event string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", event, raw); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sse) ping() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := fmt.Fprint(s.w, ": ping\n\n"); err != nil {
		return err
	}
	return s.rc.Flush()
}

// progress is what a page shows of a run while it goes.
type progress struct {
	ID         string           `json:"id"`
	Status     string           `json:"status"`
	Read       int64            `json:"read"`
	SourceDone bool             `json:"source_done"`
	Done       int64            `json:"done"`
	Succeeded  int64            `json:"succeeded"`
	Failed     int64            `json:"failed"`
	Percent    int64            `json:"percent"`
	Duration   string           `json:"duration"`
	Events     map[string]int64 `json:"events"`
}

// liveRuns streams the progress of the runs named by ?id= until every one
// has ended. It wakes on a change of a run record and at least twice a
// second, since outcomes do not change the record.
func (c *Console) liveRuns(w http.ResponseWriter, r *http.Request, ss *session) {
	ids := r.URL.Query()["id"]
	if len(ids) > 100 {
		ids = ids[:100]
	}
	ctx := r.Context()
	s := startSSE(w)
	last := map[string]string{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	quiet := time.Now()
	for {
		changed := c.o.Runs.Changed()
		going := false
		for _, id := range ids {
			run, err := c.o.Runs.Run(ctx, id)
			if err != nil {
				continue
			}
			counts, err := c.o.Runs.Counts(ctx, id)
			if err != nil {
				continue
			}
			p := progress{ID: id, Status: run.Status, Read: run.Enqueued, SourceDone: run.SourceDone, Done: counts.Items,
				Succeeded: counts.Succeeded, Failed: counts.Failed, Events: counts.Events, Duration: fmtDuration(run.Created, run.Finished)}
			if run.SourceDone {
				p.Percent = percent(counts.Items, run.Enqueued)
			}
			if run.Status == "running" {
				going = true
			}
			key := fmt.Sprint(p.Status, p.Read, p.SourceDone, p.Done, p.Failed)
			if last[id] == key {
				continue
			}
			last[id] = key
			if err := s.send("progress", p); err != nil {
				return
			}
			quiet = time.Now()
		}
		if !going {
			_ = s.send("end", map[string]bool{"ended": true})
			return
		}
		if time.Since(quiet) > 15*time.Second {
			if s.ping() != nil {
				return
			}
			quiet = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

// tailed is an event as the live tail sends it to the page.
type tailed struct {
	Seq      uint64 `json:"seq"`
	Time     string `json:"time"`
	Type     string `json:"type"`
	Workflow string `json:"workflow"`
	Run      string `json:"run"`
	Item     string `json:"item"`
	Block    string `json:"block"`
	ID       string `json:"id"`
	JSON     string `json:"json"`
}

// liveEvents streams the events of the workflow and type chosen, starting
// with the last 50.
func (c *Console) liveEvents(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	wf, typ := q.Get("workflow"), q.Get("type")
	if typ != "" {
		if _, err := events.ParseType(typ); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	if !validToken(wf) {
		http.Error(w, "workflow: not a workflow name", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	s := startSSE(w)
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if s.ping() != nil {
					return
				}
			}
		}
	}()
	err := c.o.Events.Tail(ctx, wf, typ, 50, func(ev events.Tailed) error {
		m := ev.Envelope.Metadata
		return s.send("event", tailed{Seq: ev.Seq, Time: fmtTime(ev.Time), Type: string(ev.Envelope.EventType), Workflow: m.Workflow,
			Run: m.RunID, Item: m.ItemID, Block: m.BlockID, ID: ev.Envelope.EventID, JSON: pretty(ev.Envelope)})
	})
	if err != nil && ctx.Err() == nil {
		c.log.Warn("console: events tail", "err", err)
		_ = s.send("failure", map[string]string{"error": err.Error()})
	}
}

// validToken accepts "" or a name that is one NATS subject token.
func validToken(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
