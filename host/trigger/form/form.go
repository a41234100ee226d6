// Package form serves the public pages of workflows' form triggers
// (on: {form: ...}) at /forms/<workflow>: a page generated from the
// form's JSON Schema, checked again on the server, whose every valid
// submission is one item of the workflow's form day run (through
// trigger.Intake, as the items API's are). The pages are rate limited per
// client address and CSRF-protected with a signed cookie; uploaded files
// become documents in the item's fields.
package form

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/paperflow/paperflow/host/trigger"
	"github.com/paperflow/paperflow/host/workflow"
	"github.com/paperflow/paperflow/plugins/ratelimit"
)

//go:embed page.html
var pageFiles embed.FS

var pages = template.Must(template.ParseFS(pageFiles, "page.html"))

// postTimeout bounds the reading of a submission (up to MaxUpload), which
// the server-wide read timeout, made for small API bodies, would cut off
// on a slow phone connection.
const postTimeout = 2 * time.Minute

// Handler serves /forms/{workflow} for the served workflows with a form
// trigger. Lookup, Intake, Documents and Key are required.
type Handler struct {
	// Lookup finds a served workflow by name; a workflow removed, or
	// redeployed without on: form, is no longer found and its page is 404.
	Lookup func(name string) (*workflow.Workflow, bool)
	// Intake queues submissions into the workflow's form day run.
	Intake *trigger.Intake
	// Documents stores uploaded files.
	Documents trigger.Documents
	// Key signs the CSRF cookies (LoadKey): the same on every host.
	Key []byte
	Log *slog.Logger
	// Burst and Every are the rate limit per client address; zero takes
	// DefaultBurst and DefaultEvery.
	Burst int
	Every time.Duration

	once    sync.Once
	limits  *ratelimit.Keyed
	schemas sync.Map // *workflow.FormTrigger → *compiled
}

// compiled is what a form's schema gives beyond its fields.
type compiled struct {
	schema *jsonschema.Schema
	accept map[string]string // file field → accept list
}

// Routes returns the handler of /forms/.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /forms/{workflow}", h.page)
	mux.HandleFunc("POST /forms/{workflow}", h.post)
	mux.HandleFunc("/forms/", func(w http.ResponseWriter, r *http.Request) {
		h.message(w, http.StatusNotFound, "Form not found", "Check the address of the form.")
	})
	return mux
}

func (h *Handler) limiter() *ratelimit.Keyed {
	h.once.Do(func() {
		burst, every := h.Burst, h.Every
		if burst <= 0 {
			burst = DefaultBurst
		}
		if every <= 0 {
			every = DefaultEvery
		}
		h.limits = ratelimit.NewKeyed(every, burst, limiterKeys)
	})
	return h.limits
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

func (h *Handler) csrf() csrf { return csrf{key: h.Key, now: time.Now} }

// allowed spends one request of the client; over the limit it has
// answered 429 with Retry-After.
func (h *Handler) allowed(w http.ResponseWriter, r *http.Request) bool {
	ok, wait := h.limiter().Take(ratelimit.ClientKey(r), time.Now())
	if !ok {
		ratelimit.SetRetryAfter(w.Header(), wait)
		h.message(w, http.StatusTooManyRequests, "Too many attempts",
			"There were too many requests from your network. Wait a minute, then open the form again.")
	}
	return ok
}

// form spends one request of the client (allowed) and finds the served
// workflow of the request that has a form; when it is not ok it has
// answered (429 or 404).
func (h *Handler) form(w http.ResponseWriter, r *http.Request) (*workflow.Workflow, bool) {
	if !h.allowed(w, r) {
		return nil, false
	}
	wf, ok := h.Lookup(r.PathValue("workflow"))
	if !ok || wf.On.Form == nil {
		h.message(w, http.StatusNotFound, "Form not found", "Check the address of the form. A form that was taken down no longer takes answers.")
		return nil, false
	}
	return wf, true
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	wf, ok := h.form(w, r)
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, wf, checked{values: map[string]any{}, problems: map[string]string{}}, "")
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	wf, ok := h.form(w, r)
	if !ok {
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(postTimeout))
	p, err := readPost(w, r)
	if err != nil && !errors.Is(err, errTooLarge) {
		h.message(w, http.StatusBadRequest, "Could not read the form", "Go back, and send the form again.")
		return
	}
	if !h.csrf().check(r, p.value("csrf")) {
		h.message(w, http.StatusForbidden, "Please open the form again",
			"This page had been open too long, or your browser did not keep the form's cookie. Open the form again, and send it from there.")
		return
	}
	f := wf.On.Form
	comp := h.compiled(f)
	c := check(f, p, comp.accept)
	if errors.Is(err, errTooLarge) {
		h.render(w, r, http.StatusRequestEntityTooLarge, wf, c, errTooLarge.Error()+" Choose smaller files.")
		return
	}
	schemaProblems(comp.schema, f, c, p)
	if len(c.problems) > 0 {
		h.render(w, r, http.StatusUnprocessableEntity, wf, c, c.problems[""])
		return
	}
	if err := h.submit(r.Context(), wf, c, p); err != nil {
		h.log().Error("take a form submission", "workflow", wf.Name, "err", err)
		h.render(w, r, http.StatusServiceUnavailable, wf, c, "Your answers could not be sent just now. Please send the form again in a minute.")
		return
	}
	thanks := f.Thanks
	if thanks == "" {
		thanks = "Thank you. Your answers were sent."
	}
	h.renderPage(w, http.StatusOK, "thanks", &thanksPage{Title: title(wf), Thanks: thanks})
}

// submit stores the files and queues the item. The page's submission id is
// the Idempotency-Key, so a form sent twice (a double click, a reload of
// the answer) is one item.
func (h *Handler) submit(ctx context.Context, wf *workflow.Workflow, c checked, p posted) error {
	fields := make(map[string]any, len(c.values))
	for k, v := range c.values {
		fields[k] = v
	}
	for _, fld := range wf.On.Form.Fields {
		up, ok := p.files[fld.Name]
		if fld.Type != workflow.FieldFile || !ok {
			continue
		}
		d, err := h.Documents.Put(ctx, up.name, up.mimetype, up.data)
		if err != nil {
			return fmt.Errorf("store %s: %w", up.name, err)
		}
		fields[fld.Name] = map[string]any{"id": d.ID, "name": d.Name, "mimetype": d.Mimetype, "url": d.URL}
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	key := p.value("submission")
	if !submissionID.MatchString(key) {
		key = newSubmission()
	}
	_, err = h.Intake.Submit(ctx, wf, workflow.TriggerForm, trigger.Submission{
		Fields: []json.RawMessage{raw}, Origin: "form", Key: "form:" + key, Digest: "form",
	})
	if errors.Is(err, trigger.ErrKeyBusy) {
		return nil // the same submission, being queued by its first post
	}
	return err
}

var submissionID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func newSubmission() string {
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	return hex.EncodeToString(raw)
}

// compiled compiles a form's schema once per loaded workflow version.
func (h *Handler) compiled(f *workflow.FormTrigger) *compiled {
	if c, ok := h.schemas.Load(f); ok {
		return c.(*compiled)
	}
	c := &compiled{accept: map[string]string{}}
	var doc struct {
		Properties map[string]struct {
			Accept           string `json:"accept"`
			ContentMediaType string `json:"contentMediaType"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(f.Schema, &doc); err == nil {
		for name, p := range doc.Properties {
			if p.Accept != "" {
				c.accept[name] = p.Accept
			} else if p.ContentMediaType != "" {
				c.accept[name] = p.ContentMediaType
			}
		}
	}
	comp := jsonschema.NewCompiler()
	comp.Draft = jsonschema.Draft2020
	const url = "https://paperflow.dev/forms/form.schema.json"
	if err := comp.AddResource(url, bytes.NewReader(f.Schema)); err == nil {
		c.schema, _ = comp.Compile(url)
	}
	h.schemas.Store(f, c)
	return c
}

func title(wf *workflow.Workflow) string {
	if wf.On.Form.Title != "" {
		return wf.On.Form.Title
	}
	return wf.Name
}
