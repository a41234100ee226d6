// Package console is the operator's web console that `paperflow serve`
// serves at /: the loaded workflows, runs and their items, documents,
// emails, deliveries, webhook subscriptions, dead letters and a live tail
// of events. It is server-rendered HTML (html/template) with a little
// embedded CSS and JavaScript, so a fresh clone needs nothing but Go.
//
// It reads the same NATS state as the CLI and acts through the same code
// paths as the API, all through the small interfaces of Options, which
// the host packages implement (see FromHost).
package console

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
)

// Workflow is a workflow the host serves, as the console draws it.
type Workflow struct {
	Name string
	File string // absolute path of the workflow file
	// Source and Blocks are the chain, in order.
	Source Block
	Blocks []Block
}

// Block is one link of a workflow's chain.
type Block struct {
	ID   string
	Uses string
	Kind string // source, step or sink
}

// Steps are the ids of the workflow's step blocks, in order: the blocks an
// item goes through.
func (w Workflow) Steps() []string {
	var out []string
	for _, b := range w.Blocks {
		if b.Kind == "step" {
			out = append(out, b.ID)
		}
	}
	return out
}

// Workflows lists the workflows the host serves. Deployed workflows will
// come through the same interface.
type Workflows interface {
	Workflows() []Workflow
}

// RunReader reads runs and items (engine.Reader).
type RunReader interface {
	Runs(ctx context.Context, q engine.RunQuery) (engine.RunPage, error)
	Run(ctx context.Context, runID string) (engine.RunInfo, error)
	Counts(ctx context.Context, runID string) (engine.RunCounts, error)
	Items(ctx context.Context, runID string, q engine.ItemQuery) (engine.ItemPage, error)
	Item(ctx context.Context, runID, itemID string, blocks []string) (engine.ItemDetail, error)
	// Changed is closed at the next change of a run record.
	Changed() <-chan struct{}
}

// RunStarter starts a run of a workflow file, or resumes one, through the
// same code path as POST /api/runs.
type RunStarter interface {
	StartRun(ctx context.Context, file, resume string) (string, error)
}

// Uploads starts a run of a served workflow on an uploaded file of items
// (server.Server.StartUpload): the upload becomes a file of a version of
// the workflow that is not made current, so the workflow's folder need not
// be writable, deployed workflows take uploads too and what the hosts
// serve stays as it was.
type Uploads interface {
	StartUpload(ctx context.Context, workflow, fileName string, data []byte) (string, error)
}

// Retrier runs failed items of an ended run again. It returns once the
// retry has started, and calls done when it has ended (not when it
// returns an error); the items' new outcomes show on the run's page.
type Retrier interface {
	RetryItems(ctx context.Context, runID string, items []string, done func()) error
}

// EventTail follows the events stream (events.Tail).
type EventTail interface {
	Tail(ctx context.Context, workflow, typ string, last int, fn func(events.Tailed) error) error
}

// Deliveries reads the attempt log and dead letters and replays events.
type Deliveries interface {
	AttemptsOf(ctx context.Context, eventIDs []string, since time.Time) (map[string][]delivery.Attempt, error)
	Replay(ctx context.Context, eventID string) ([]string, error)
	DeadLetters(ctx context.Context) ([]delivery.DeadLetter, error)
	ReplayDeadLetter(ctx context.Context, seq uint64) error
	ReplayDeadLetters(ctx context.Context) (int, error)
}

// Subscriptions is the store of webhook subscriptions
// (delivery.SubscriptionStore).
type Subscriptions interface {
	List(ctx context.Context) ([]delivery.Subscription, error)
	Get(ctx context.Context, id string) (delivery.Subscription, error)
	Create(ctx context.Context, in delivery.SubscriptionInput) (delivery.Subscription, error)
	Update(ctx context.Context, id string, in delivery.SubscriptionInput) (delivery.Subscription, error)
	Delete(ctx context.Context, id string) error
}

// Documents signs download links (documents.Store).
type Documents interface {
	URLFor(ctx context.Context, id string, ttl time.Duration) (string, error)
}

// Mailbox finds a sent message by its Message-ID (mail.Outbox); nil when
// mail goes out by SMTP and nothing is kept to preview.
type Mailbox interface {
	Find(messageID string) ([]byte, error)
}

// Options is what the console reads and acts through.
type Options struct {
	// Token logs in with every action; ReadOnlyToken logs in to look only.
	// With neither set, nobody can log in.
	Token, ReadOnlyToken string
	// SecureCookies marks the session cookie Secure; set it when the
	// console is reached over https (a proxy may end TLS before the host).
	SecureCookies bool
	// Sessions keeps the logins (OpenSessions); every host behind one
	// address must share it. Without it nobody can log in.
	Sessions *Sessions

	Workflows     Workflows
	Runs          RunReader
	Starter       RunStarter
	Uploads       Uploads
	Retrier       Retrier
	Events        EventTail
	Deliveries    Deliveries
	Subscriptions Subscriptions
	Documents     Documents
	Mail          Mailbox
	// Deployments, when set, shows each workflow's deployed versions and
	// rolls back to one.
	Deployments Deployments
	// Blocks, when set, reaches the served blocks' host-only routes: the
	// item page shows and acts on signature requests through them.
	Blocks BlockRoutes
	// Locks, when set, keeps a retry and a resume of one run from going
	// at once, from two tabs or two hosts (OpenRunLocks).
	Locks *RunLocks
	// MaxUpload bounds an uploaded file (default 64 MiB).
	MaxUpload int64
	Log       *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Console serves the pages.
type Console struct {
	o        Options
	log      *slog.Logger
	sessions *Sessions
	failures failures
	pages    *pageSet
	mux      *http.ServeMux
}

// New builds the console's handler; mount it at / (see Beside).
func New(o Options) *Console {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MaxUpload <= 0 {
		o.MaxUpload = 64 << 20
	}
	c := &Console{o: o, log: o.Log, sessions: o.Sessions, pages: mustPages()}
	c.routes()
	return c
}

// ServeHTTP sends every answer with the console's security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /login", c.loginPage)
	m.HandleFunc("POST /login", c.login)
	m.HandleFunc("POST /logout", c.session(c.logout))
	m.HandleFunc("GET /{$}", c.session(func(w http.ResponseWriter, r *http.Request, _ *session) {
		http.Redirect(w, r, "/runs", http.StatusSeeOther)
	}))
	m.HandleFunc("GET /workflows", c.session(c.workflowsPage))
	m.HandleFunc("GET /workflows/{name}", c.session(c.workflowPage))
	m.HandleFunc("POST /workflows/{name}/runs", c.action(c.uploadRun))
	m.HandleFunc("POST /workflows/{name}/rollback", c.action(c.rollback))
	m.HandleFunc("GET /runs", c.session(c.runsPage))
	m.HandleFunc("GET /runs/{run}", c.session(c.runPage))
	m.HandleFunc("POST /runs/{run}/retry", c.action(c.retry))
	m.HandleFunc("POST /runs/{run}/resume", c.action(c.resume))
	m.HandleFunc("GET /runs/{run}/items/{item}", c.session(c.itemPage))
	m.HandleFunc("POST /runs/{run}/items/{item}/signatures/{block}/{request}/resend", c.action(c.resendSignature))
	m.HandleFunc("POST /runs/{run}/items/{item}/signatures/{block}/{request}/cancel", c.action(c.cancelSignature))
	m.HandleFunc("GET /mail", c.session(c.mailBody))
	m.HandleFunc("POST /events/{id}/replay", c.action(c.replayEvent))
	m.HandleFunc("GET /webhooks", c.session(c.webhooksPage))
	m.HandleFunc("POST /webhooks", c.action(c.createSubscription))
	m.HandleFunc("GET /webhooks/{id}/edit", c.session(c.editSubscriptionPage))
	m.HandleFunc("POST /webhooks/{id}/edit", c.action(c.editSubscription))
	m.HandleFunc("POST /webhooks/{id}/enabled", c.action(c.toggleSubscription))
	m.HandleFunc("POST /webhooks/{id}/delete", c.action(c.deleteSubscription))
	m.HandleFunc("POST /deadletters/{seq}/replay", c.action(c.replayDeadLetter))
	m.HandleFunc("POST /deadletters/replay", c.action(c.replayDeadLetters))
	m.HandleFunc("GET /events", c.session(c.eventsPage))
	m.HandleFunc("GET /live/runs", c.session(c.liveRuns))
	m.HandleFunc("GET /live/events", c.session(c.liveEvents))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.message(w, r, nil, http.StatusNotFound, "Page not found", "There is no page at this address.")
	})
	c.mux = m
}

// apiPrefixes are the paths the host's API and block routes own; Beside
// sends them there and everything else to the console.
var apiPrefixes = []string{"/api/", "/public/", "/blocks/", "/documents/", "/healthz", "/readyz", "/metrics"}

// Beside serves the console at / next to the host's API handler, which
// keeps its own paths (/api/, /public/, /blocks/, /documents/, /healthz,
// /readyz, /metrics).
func Beside(api http.Handler, console http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range apiPrefixes {
			if strings.HasPrefix(r.URL.Path, p) {
				api.ServeHTTP(w, r)
				return
			}
		}
		console.ServeHTTP(w, r)
	})
}
