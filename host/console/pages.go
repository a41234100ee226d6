package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
)

func (c *Console) workflows() []Workflow {
	if c.o.Workflows == nil {
		return nil
	}
	return c.o.Workflows.Workflows()
}

func (c *Console) workflow(name string) (Workflow, bool) {
	for _, w := range c.workflows() {
		if w.Name == name {
			return w, true
		}
	}
	return Workflow{}, false
}

type workflowView struct {
	Workflow
	Uploadable bool // its source reads a file: a run may start from an upload
	Accept     string
	Current    *deploy.Pointer // its deployed version, nil when not deployed
}

func (c *Console) workflowsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	var views []workflowView
	for _, wf := range c.workflows() {
		v := workflowView{Workflow: wf, Current: c.currentVersion(r.Context(), wf.Name)}
		switch wf.Source.Uses {
		case "csv":
			v.Uploadable, v.Accept = c.o.Uploads != nil, ".csv,text/csv"
		case "json":
			v.Uploadable, v.Accept = c.o.Uploads != nil, ".json,.ndjson,.jsonl,application/json"
		}
		views = append(views, v)
	}
	c.render(w, r, ss, http.StatusOK, "workflows", "Workflows", views)
}

type runsData struct {
	Rows    []engine.RunRow
	Pager   pager
	Filters filterForm
	Running []string
}

var runStatuses = []string{"running", "completed", "failed", "interrupted"}

// workflowFilter filters on a workflow. One the host no longer serves
// stays an option, so what was run of it can still be found.
func (c *Console) workflowFilter(q url.Values) filter {
	var names []string
	for _, wf := range c.workflows() {
		names = append(names, wf.Name)
	}
	if v := q.Get("workflow"); v != "" && !slices.Contains(names, v) {
		names = append(names, v)
	}
	return newFilter(q, "workflow", "Workflow", names)
}

func (c *Console) runsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	wf, st := c.workflowFilter(q), newFilter(q, "status", "Status", runStatuses)
	d := runsData{Filters: filterForm{Action: "/runs", Filters: []filter{wf, st}}}
	n := pageOf(r)
	res, err := c.o.Runs.Runs(r.Context(), engine.RunQuery{Workflow: wf.Value, Status: st.Value, Offset: (n - 1) * perPage, Limit: perPage})
	if err != nil {
		c.fail(w, r, ss, "list the runs", err)
		return
	}
	d.Rows, d.Pager = res.Runs, newPager(r, n, res.Total)
	for _, row := range d.Rows {
		if row.Status == "running" {
			d.Running = append(d.Running, row.ID)
		}
	}
	c.render(w, r, ss, http.StatusOK, "runs", "Runs", d)
}

// cell is an item's state at one block: done, failed, skipped (after a
// failure) or pending.
type cell struct {
	Block, State string
}

type itemView struct {
	engine.ItemRow
	Cells []cell
}

type runData struct {
	Run     engine.RunInfo
	Counts  engine.RunCounts
	Steps   []string
	Items   []itemView
	Pager   pager
	Filters filterForm
	Failed  bool // there are failed items to retry
	Resume  bool
	Loaded  bool // its workflow is one the host serves
}

var itemStatuses = []string{"succeeded", "failed", "pending"}

func (c *Console) runPage(w http.ResponseWriter, r *http.Request, ss *session) {
	ctx := r.Context()
	runID := r.PathValue("run")
	run, err := c.o.Runs.Run(ctx, runID)
	if errors.Is(err, engine.ErrNotFound) {
		c.message(w, r, ss, http.StatusNotFound, "No such run", "Run "+runID+" is not kept (runs are kept 90 days).")
		return
	}
	if err != nil {
		c.fail(w, r, ss, "read the run", err)
		return
	}
	st := newFilter(r.URL.Query(), "status", "Items", itemStatuses)
	d := runData{Run: run, Filters: filterForm{Action: "/runs/" + url.PathEscape(runID), Filters: []filter{st}}}
	wf, loaded := c.workflow(run.Workflow)
	d.Loaded, d.Steps = loaded, wf.Steps()
	if d.Counts, err = c.o.Runs.Counts(ctx, runID); err != nil {
		c.fail(w, r, ss, "count the run's items", err)
		return
	}
	n := pageOf(r)
	items, err := c.o.Runs.Items(ctx, runID, engine.ItemQuery{Status: st.Value, Offset: (n - 1) * perPage, Limit: perPage})
	if err != nil {
		c.fail(w, r, ss, "list the run's items", err)
		return
	}
	d.Pager = newPager(r, n, items.Total)
	for _, it := range items.Items {
		d.Items = append(d.Items, itemView{ItemRow: it, Cells: cells(it, d.Steps)})
	}
	// A run of a deployed version is retried on that version, wherever
	// its workflow is served.
	d.Failed = d.Counts.Failed > 0 && run.Status != "running" && c.o.Retrier != nil && (loaded || run.Version != "")
	d.Resume = (run.Status == "interrupted" || run.Status == "failed") && c.o.Starter != nil
	if r.URL.Query().Get("partial") == "items" {
		c.fragment(w, r, ss, "run", "items", d)
		return
	}
	c.render(w, r, ss, http.StatusOK, "run", "Run "+run.ID, d)
}

// cells places an item's outcome on the workflow's steps: an item goes
// through them in order and stops at the first that fails.
func cells(it engine.ItemRow, steps []string) []cell {
	out := make([]cell, len(steps))
	at := slices.Index(steps, it.Block)
	for i, s := range steps {
		st := "pending"
		switch {
		case it.Status == "succeeded":
			st = "done"
		case it.Status == "failed" && at < 0:
			st = "skipped" // failed at the source
		case it.Status == "failed" && i < at:
			st = "done"
		case it.Status == "failed" && i == at:
			st = "failed"
		case it.Status == "failed":
			st = "skipped"
		}
		out[i] = cell{Block: s, State: st}
	}
	return out
}

// fragment renders one named template of a page alone, for live updates.
func (c *Console) fragment(w http.ResponseWriter, r *http.Request, ss *session, pageName, name string, data any) {
	p := page{Data: data}
	if ss != nil {
		p.LoggedIn, p.ReadOnly, p.CSRF = true, ss.readOnly, ss.csrf
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	if err := c.pages.byName[pageName].ExecuteTemplate(w, name, p); err != nil {
		c.log.Error("console: render fragment", "page", pageName, "err", err)
	}
}

type timelineEntry struct {
	Time  time.Time
	Kind  string // block, event
	Title string
	JSON  string
}

type documentView struct {
	Name, Mimetype, URL string
}

type eventDeliveries struct {
	EventID, Type string
	Attempts      []delivery.Attempt
}

type itemData struct {
	Run        engine.RunInfo
	Item       engine.ItemRow
	Steps      []cell
	Timeline   []timelineEntry
	Documents  []documentView
	Emails     []emailView
	Deliveries []eventDeliveries
	// Signatures are the item's signature requests, nil when the item
	// went through no signature block.
	Signatures *signaturePanel
	Back       string
}

func (c *Console) itemPage(w http.ResponseWriter, r *http.Request, ss *session) {
	ctx := r.Context()
	runID, itemID := r.PathValue("run"), r.PathValue("item")
	run, err := c.o.Runs.Run(ctx, runID)
	if err != nil {
		c.notFoundOr(w, r, ss, "read the run", err)
		return
	}
	wf, _ := c.workflow(run.Workflow)
	steps := wf.Steps()
	var all []string
	for _, b := range wf.Blocks {
		all = append(all, b.ID)
	}
	det, err := c.o.Runs.Item(ctx, runID, itemID, all)
	if err != nil {
		c.notFoundOr(w, r, ss, "read the item", err)
		return
	}
	d := itemData{Run: det.Run, Item: det.Item, Steps: cells(det.Item, steps), Back: r.URL.RequestURI()}
	for _, b := range det.Blocks {
		d.Timeline = append(d.Timeline, timelineEntry{Time: b.Finished, Kind: "block", Title: "block " + b.Block + " finished",
			JSON: pretty(map[string]any{"outputs": json.RawMessage(orNull(b.Outputs)), "events": b.Events})})
	}
	var ids []string
	for _, ev := range det.Events {
		d.Timeline = append(d.Timeline, timelineEntry{Time: ev.Time, Kind: "event", Title: string(ev.Envelope.EventType) + " from " + ev.Envelope.Metadata.BlockID, JSON: pretty(ev.Raw)})
		ids = append(ids, ev.Envelope.EventID)
		c.collect(ctx, &d, ev.Envelope)
	}
	if det.Item.Status == "failed" {
		d.Timeline = append(d.Timeline, timelineEntry{Kind: "error", Title: "failed at " + det.Item.Block, JSON: det.Item.Error})
	}
	slices.SortStableFunc(d.Timeline, func(a, b timelineEntry) int {
		if a.Time.IsZero() || b.Time.IsZero() {
			return 0
		}
		return a.Time.Compare(b.Time)
	})
	if c.o.Deliveries != nil && len(ids) > 0 {
		attempts, err := c.o.Deliveries.AttemptsOf(ctx, ids, run.Created.Add(-time.Minute))
		if err != nil {
			c.fail(w, r, ss, "read the attempt log", err)
			return
		}
		for _, ev := range det.Events {
			d.Deliveries = append(d.Deliveries, eventDeliveries{EventID: ev.Envelope.EventID, Type: string(ev.Envelope.EventType), Attempts: attempts[ev.Envelope.EventID]})
		}
	}
	if p := c.itemSignatures(ctx, wf, runID, itemID); p != nil && (len(p.Requests) > 0 || wentThrough(det.Blocks, signatureBlocks(wf))) {
		d.Signatures = p
	}
	c.render(w, r, ss, http.StatusOK, "item", "Item "+itemID+" of run "+runID, d)
}

// wentThrough reports whether an item finished any of the blocks ids.
func wentThrough(done []engine.BlockRecord, ids []string) bool {
	for _, b := range done {
		if slices.Contains(ids, b.Block) {
			return true
		}
	}
	return false
}

func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

func (c *Console) notFoundOr(w http.ResponseWriter, r *http.Request, ss *session, what string, err error) {
	if errors.Is(err, engine.ErrNotFound) {
		c.message(w, r, ss, http.StatusNotFound, "Not found", err.Error())
		return
	}
	c.fail(w, r, ss, what, err)
}

// collect picks the documents and emails an event names.
func (c *Console) collect(ctx context.Context, d *itemData, ev events.Envelope) {
	var data struct {
		Documents []struct {
			ID, Name, Mimetype, URL string
		} `json:"documents"`
		Emails []struct {
			To        any    `json:"to"`
			Subject   string `json:"subject"`
			MessageID string `json:"message_id"`
		} `json:"emails"`
	}
	_ = json.Unmarshal(ev.Data, &data)
	for _, doc := range data.Documents {
		v := documentView{Name: doc.Name, Mimetype: doc.Mimetype, URL: doc.URL}
		if c.o.Documents != nil && doc.ID != "" {
			if u, err := c.o.Documents.URLFor(ctx, doc.ID, 15*time.Minute); err == nil {
				v.URL = u
			}
		}
		if !safeLink(v.URL) {
			v.URL = ""
		}
		d.Documents = append(d.Documents, v)
	}
	for _, m := range data.Emails {
		d.Emails = append(d.Emails, c.email(m.MessageID, m.Subject, m.To))
	}
}

// safeLink keeps only http(s) links (html/template already refuses
// javascript: ones; this says so plainly).
func safeLink(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https" || (u.Scheme == "" && strings.HasPrefix(s, "/")))
}

func (c *Console) retry(w http.ResponseWriter, r *http.Request, ss *session) {
	runID := r.PathValue("run")
	if c.o.Retrier == nil {
		c.message(w, r, ss, http.StatusNotImplemented, "Cannot retry", "This host cannot retry items.")
		return
	}
	items := r.PostForm["item"]
	if r.PostFormValue("all") == "1" {
		page, err := c.o.Runs.Items(r.Context(), runID, engine.ItemQuery{Status: "failed", Limit: 1 << 30})
		if err != nil {
			c.fail(w, r, ss, "list the failed items", err)
			return
		}
		items = items[:0]
		for _, it := range page.Items {
			items = append(items, it.ID)
		}
	}
	if len(items) == 0 {
		http.Redirect(w, r, "/runs/"+url.PathEscape(runID)+"?flash="+url.QueryEscape("Choose the items to retry."), http.StatusSeeOther)
		return
	}
	release, ok := c.lease(w, r, ss, runID, "retry")
	if !ok {
		return
	}
	if err := c.o.Retrier.RetryItems(r.Context(), runID, items, release); err != nil {
		release()
		c.fail(w, r, ss, "retry the items", err)
		return
	}
	c.log.Info("console: retrying items", "run", runID, "items", len(items))
	back := safeNext(r.PostFormValue("back"))
	if back == "/runs" {
		back = "/runs/" + url.PathEscape(runID)
	}
	http.Redirect(w, r, withFlash(back, "Retrying "+strconv.Itoa(len(items))+" item(s)."), http.StatusSeeOther)
}

func withFlash(to, msg string) string {
	u, err := url.Parse(to)
	if err != nil {
		return to
	}
	q := u.Query()
	q.Set("flash", msg)
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *Console) resume(w http.ResponseWriter, r *http.Request, ss *session) {
	runID := r.PathValue("run")
	run, err := c.o.Runs.Run(r.Context(), runID)
	if err != nil {
		c.notFoundOr(w, r, ss, "read the run", err)
		return
	}
	if c.o.Starter == nil {
		c.message(w, r, ss, http.StatusNotImplemented, "Cannot resume", "This host cannot start runs.")
		return
	}
	release, ok := c.lease(w, r, ss, runID, "resume")
	if !ok {
		return
	}
	// Held until the run is running again: a retry asked for after that
	// is refused because the run is running.
	defer release()
	if run, err = c.o.Runs.Run(r.Context(), runID); err != nil {
		c.fail(w, r, ss, "read the run", err)
		return
	}
	if run.Status == "running" {
		c.message(w, r, ss, http.StatusConflict, "Already running", "Run "+runID+" is running: there is nothing to resume.")
		return
	}
	if _, err := c.o.Starter.StartRun(r.Context(), run.File, runID); err != nil {
		c.fail(w, r, ss, "resume the run", err)
		return
	}
	http.Redirect(w, r, withFlash("/runs/"+url.PathEscape(runID), "Resumed."), http.StatusSeeOther)
}

// lease takes the run's lease for a retry or a resume; when another is
// going it answers the request itself and ok is false. release ends the
// lease (it does nothing without Options.Locks).
func (c *Console) lease(w http.ResponseWriter, r *http.Request, ss *session, runID, action string) (release func(), ok bool) {
	if c.o.Locks == nil {
		return func() {}, true
	}
	ls, err := c.o.Locks.Take(r.Context(), runID, action)
	var busy *BusyError
	switch {
	case errors.As(err, &busy):
		c.message(w, r, ss, http.StatusConflict, "Already going", busy.Error()+".")
		return nil, false
	case err != nil:
		c.fail(w, r, ss, "take the run's lease", err)
		return nil, false
	}
	return ls.Release, true
}

func (c *Console) replayEvent(w http.ResponseWriter, r *http.Request, ss *session) {
	id := r.PathValue("id")
	sinks, err := c.o.Deliveries.Replay(r.Context(), id)
	if err != nil {
		c.fail(w, r, ss, "replay the event", err)
		return
	}
	http.Redirect(w, r, withFlash(safeNext(r.PostFormValue("back")), "Event queued again for "+strings.Join(sinks, ", ")+"."), http.StatusSeeOther)
}

type webhooksData struct {
	Subscriptions []delivery.Subscription
	DeadLetters   []delivery.DeadLetter
	Created       *delivery.Subscription
	Types         []string
	Error         string
}

func (c *Console) webhooksData(ctx context.Context) (webhooksData, error) {
	d := webhooksData{}
	for _, t := range events.Types {
		d.Types = append(d.Types, string(t))
	}
	var err error
	if c.o.Subscriptions != nil {
		if d.Subscriptions, err = c.o.Subscriptions.List(ctx); err != nil {
			return d, err
		}
	}
	if c.o.Deliveries != nil {
		if d.DeadLetters, err = c.o.Deliveries.DeadLetters(ctx); err != nil {
			return d, err
		}
		slices.Reverse(d.DeadLetters)
	}
	return d, nil
}

func (c *Console) webhooksPage(w http.ResponseWriter, r *http.Request, ss *session) {
	d, err := c.webhooksData(r.Context())
	if err != nil {
		c.fail(w, r, ss, "read the webhooks", err)
		return
	}
	c.render(w, r, ss, http.StatusOK, "webhooks", "Webhooks", d)
}

func (c *Console) createSubscription(w http.ResponseWriter, r *http.Request, ss *session) {
	u, desc := strings.TrimSpace(r.PostFormValue("url")), r.PostFormValue("description")
	in := delivery.SubscriptionInput{URL: &u, Description: &desc, Events: r.PostForm["events"]}
	sub, err := c.o.Subscriptions.Create(r.Context(), in)
	d, derr := c.webhooksData(r.Context())
	if derr != nil {
		c.fail(w, r, ss, "read the webhooks", derr)
		return
	}
	var invalid *delivery.InvalidError
	switch {
	case errors.As(err, &invalid):
		d.Error = invalid.Error()
		c.render(w, r, ss, http.StatusBadRequest, "webhooks", "Webhooks", d)
		return
	case err != nil:
		c.fail(w, r, ss, "create the subscription", err)
		return
	}
	c.log.Info("console: subscription created", "subscription", sub.ID)
	// The secret is shown in this answer only: it is never shown again.
	d.Created = &sub
	c.render(w, r, ss, http.StatusOK, "webhooks", "Webhooks", d)
}

func (c *Console) toggleSubscription(w http.ResponseWriter, r *http.Request, ss *session) {
	on := r.PostFormValue("enabled") == "true"
	if _, err := c.o.Subscriptions.Update(r.Context(), r.PathValue("id"), delivery.SubscriptionInput{Enabled: &on}); err != nil {
		c.fail(w, r, ss, "change the subscription", err)
		return
	}
	msg := "Subscription disabled."
	if on {
		msg = "Subscription enabled."
	}
	http.Redirect(w, r, withFlash("/webhooks", msg), http.StatusSeeOther)
}

func (c *Console) deleteSubscription(w http.ResponseWriter, r *http.Request, ss *session) {
	if err := c.o.Subscriptions.Delete(r.Context(), r.PathValue("id")); err != nil {
		c.fail(w, r, ss, "delete the subscription", err)
		return
	}
	http.Redirect(w, r, withFlash("/webhooks", "Subscription deleted."), http.StatusSeeOther)
}

func (c *Console) replayDeadLetter(w http.ResponseWriter, r *http.Request, ss *session) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		c.message(w, r, ss, http.StatusBadRequest, "No such dead letter", "The address names no dead letter.")
		return
	}
	if err := c.o.Deliveries.ReplayDeadLetter(r.Context(), seq); err != nil {
		c.fail(w, r, ss, "replay the dead letter", err)
		return
	}
	http.Redirect(w, r, withFlash("/webhooks", "Dead letter queued again."), http.StatusSeeOther)
}

func (c *Console) replayDeadLetters(w http.ResponseWriter, r *http.Request, ss *session) {
	n, err := c.o.Deliveries.ReplayDeadLetters(r.Context())
	if err != nil {
		c.fail(w, r, ss, "replay the dead letters", err)
		return
	}
	http.Redirect(w, r, withFlash("/webhooks", strconv.Itoa(n)+" dead letter(s) queued again."), http.StatusSeeOther)
}

type eventsData struct {
	Filters filterForm
	Stream  string // the live URL
}

func (c *Console) eventsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	var types []string
	for _, t := range events.Types {
		types = append(types, string(t))
	}
	d := eventsData{Filters: filterForm{Action: "/events", Filters: []filter{c.workflowFilter(q), newFilter(q, "type", "Type", types)}}}
	d.Stream = "/live/events?" + d.Filters.Query().Encode()
	c.render(w, r, ss, http.StatusOK, "events", "Events", d)
}
