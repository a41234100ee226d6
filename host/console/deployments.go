package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/paperflow/paperflow/host/deploy"
)

// Deployments is the workflows deployed in NATS (deploy.Store): a
// workflow's current version, its history, and rollback, the same one the
// CLI and /api/workflows use.
type Deployments interface {
	Current(ctx context.Context, name string) (deploy.Pointer, error)
	History(ctx context.Context, name string) ([]deploy.Change, error)
	Rollback(ctx context.Context, name, version, by string) (*deploy.Result, error)
}

var _ Deployments = (*deploy.Store)(nil)

// deployedView is a workflow's deploy state as its page draws it.
type deployedView struct {
	Name     string
	Served   bool     // the host serves it now
	Workflow Workflow // when Served
	Deployed bool     // the host keeps deployed workflows and this one has a history
	Current  *deploy.Pointer
	History  []deploy.Change // newest first
	Earlier  []string        // versions to roll back to, newest first
}

// currentVersion is name's current version, nil when it is not deployed (or the
// host keeps no deployed workflows).
func (c *Console) currentVersion(ctx context.Context, name string) *deploy.Pointer {
	if c.o.Deployments == nil {
		return nil
	}
	p, err := c.o.Deployments.Current(ctx, name)
	if err != nil {
		return nil
	}
	return &p
}

// workflowPage shows a workflow's current version, its history of
// deploys, rollbacks and deletes, and the rollback form.
func (c *Console) workflowPage(w http.ResponseWriter, r *http.Request, ss *session) {
	ctx := r.Context()
	d := deployedView{Name: r.PathValue("name")}
	d.Workflow, d.Served = c.workflow(d.Name)
	if c.o.Deployments != nil {
		hist, err := c.o.Deployments.History(ctx, d.Name)
		var nameErr *deploy.NameError
		switch {
		case errors.Is(err, deploy.ErrNotFound), errors.As(err, &nameErr):
		case err != nil:
			c.fail(w, r, ss, "read the workflow's history", err)
			return
		default:
			d.Deployed = true
			d.Current = c.currentVersion(ctx, d.Name)
			d.History, d.Earlier = newestFirst(hist, d.Current)
		}
	}
	if !d.Served && !d.Deployed {
		c.message(w, r, ss, http.StatusNotFound, "No such workflow", "This host neither serves nor keeps a deployed workflow named "+d.Name+".")
		return
	}
	c.render(w, r, ss, http.StatusOK, "workflow", "Workflow "+d.Name, d)
}

// newestFirst reverses hist and lists the versions in it, newest first
// and once each, that are not cur.
func newestFirst(hist []deploy.Change, cur *deploy.Pointer) (changes []deploy.Change, earlier []string) {
	changes = slices.Clone(hist)
	slices.Reverse(changes)
	for _, ch := range changes {
		if ch.Version == "" || (cur != nil && ch.Version == cur.Version) || slices.Contains(earlier, ch.Version) {
			continue
		}
		earlier = append(earlier, ch.Version)
	}
	return changes, earlier
}

// rollback makes the chosen version of a workflow current through
// deploy.Store.Rollback, as `paperflow workflows rollback` does.
func (c *Console) rollback(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PathValue("name")
	if c.o.Deployments == nil {
		c.message(w, r, ss, http.StatusNotImplemented, "Cannot roll back", "This host keeps no deployed workflows.")
		return
	}
	res, err := c.o.Deployments.Rollback(r.Context(), name, r.PostFormValue("version"), "console@"+clientAddr(r))
	var nameErr *deploy.NameError
	switch {
	case errors.Is(err, deploy.ErrNotFound):
		c.message(w, r, ss, http.StatusNotFound, "Cannot roll back", err.Error())
		return
	case errors.As(err, &nameErr):
		c.message(w, r, ss, http.StatusBadRequest, "Cannot roll back", err.Error())
		return
	case err != nil:
		c.fail(w, r, ss, "roll back", err)
		return
	}
	msg := "Rolled back to version " + res.Version + "."
	if res.Unchanged {
		msg = "Version " + res.Version + " is already current; nothing changed."
	}
	c.log.Info("console: workflow rolled back", "workflow", name, "version", res.Version, "previous", res.Previous, "unchanged", res.Unchanged)
	http.Redirect(w, r, withFlash("/workflows/"+url.PathEscape(name), msg), http.StatusSeeOther)
}
