package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/paperflow/paperflow/host/trigger"
	"github.com/paperflow/paperflow/host/workflow"
	"github.com/paperflow/paperflow/plugins/webhook/verify"
)

// MaxItemsRequest bounds the body of POST /api/workflows/{name}/items,
// uploaded files included.
const MaxItemsRequest = 32 << 20

// maxIdempotencyKey bounds an Idempotency-Key header.
const maxIdempotencyKey = 255

// Items serves POST /api/workflows/{name}/items: the http trigger of the
// workflows this host serves.
type Items struct {
	Intake *trigger.Intake
	// Documents stores uploaded files.
	Documents trigger.Documents
	// Lookup finds a served workflow by name.
	Lookup func(name string) (*workflow.Workflow, bool)
	// Token is the API token; a caller without it signs the body with
	// the workflow's on.http.secret instead.
	Token   string
	Secrets workflow.Secrets
	Log     *slog.Logger
}

// Register adds the route to mux.
func (it *Items) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/workflows/{name}/items", it.post)
}

func (it *Items) post(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxItemsRequest))
	if err != nil {
		bodyTooSlowOrLarge(w, err, MaxItemsRequest)
		return
	}
	wf, ok := it.Lookup(r.PathValue("name"))
	if problem := it.authorize(r, wf, body); problem != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="paperflow"`)
		writeError(w, http.StatusUnauthorized, problem)
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, "no workflow "+strconv.Quote(r.PathValue("name"))+" is served here: deploy it, or list the workflows with GET /api/workflows")
		return
	}
	if wf.On.HTTP == nil {
		writeError(w, http.StatusNotFound, "workflow "+strconv.Quote(wf.Name)+" takes no items over HTTP: add on: [http] to its file")
		return
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		if wait, err = parseWait(v); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		writeError(w, http.StatusBadRequest, "Idempotency-Key longer than 255 characters: use a UUID or a hash")
		return
	}
	ct := r.Header.Get("Content-Type")
	fields, err := trigger.ParseItems(r.Context(), ct, body, it.Documents)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sum := sha256.Sum256(append([]byte(ct+"\n"), body...))
	a, err := it.Intake.Submit(r.Context(), wf, workflow.TriggerHTTP, trigger.Submission{
		Fields: fields, Origin: "http", Key: key, Digest: hex.EncodeToString(sum[:]), Wait: wait,
	})
	switch {
	case errors.Is(err, trigger.ErrKeyReused):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
	case errors.Is(err, trigger.ErrKeyBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		it.Log.Error("take items", "workflow", wf.Name, "err", err)
		writeError(w, http.StatusServiceUnavailable, "the items could not be queued: "+err.Error()+"; try again (with the same Idempotency-Key)")
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.Status)
		_, _ = w.Write(append(a.Body, '\n'))
	}
}

// authorize returns what is wrong with the caller's credentials, or "":
// the API token, or a body signed with the workflow's http secret.
func (it *Items) authorize(r *http.Request, wf *workflow.Workflow, body []byte) string {
	problem := checkToken(r.Header.Get("Authorization"), it.Token)
	if problem == "" {
		return ""
	}
	sig := r.Header.Get("X-Webhook-Signature")
	if sig == "" || wf == nil || wf.On.HTTP == nil {
		return problem
	}
	secret, err := wf.On.HTTP.SecretValue(it.Secrets)
	if err != nil || secret == "" {
		return problem
	}
	if err := (verify.Verifier{Secrets: []string{secret}}).VerifySignature(sig, body); err != nil {
		return "X-Webhook-Signature does not verify: " + err.Error() + "; sign \"<t>.<body>\" with the workflow's on.http.secret as webhooks are signed"
	}
	return ""
}

// parseWait reads ?wait=: a Go duration (30s, 1m) or seconds.
func parseWait(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil {
			return 0, errors.New("wait: give a duration such as 30s or 2m")
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return 0, errors.New("wait: give a duration such as 30s or 2m")
	}
	return min(d, trigger.MaxWait), nil
}
