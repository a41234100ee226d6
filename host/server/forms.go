package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/paperflow/paperflow/host/trigger/form"
)

// formsHandler puts the public pages of the served workflows' form
// triggers (host/trigger/form) at /forms/ in front of next. A page is
// found through the running triggers, so a workflow removed, or deployed
// again without on: form, stops serving its page at once.
func (s *Server) formsHandler(ctx context.Context, next http.Handler) (http.Handler, error) {
	key, err := form.LoadKey(ctx, s.cfg.Engine.Store().HostKV)
	if err != nil {
		return nil, err
	}
	forms := &form.Handler{
		Lookup: s.workflows.triggers.lookup, Intake: s.api.Items.Intake,
		Documents: s.cfg.Engine.Documents(), Key: key, Log: s.log,
	}
	pages := forms.Routes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/forms/") {
			pages.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}
