package server

import (
	"context"
	"net/http"
	"path/filepath"
	"sort"

	"github.com/paperflow/paperflow/host/console"
	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/mail"
)

// consoleHandler puts the web console (host/console) at / beside api. It
// logs in with the API token (or the read-only token), starts runs on
// uploads as versions of the deployed workflow (StartUpload), shows and
// rolls back deployed versions, shows and acts on the served signature
// blocks' requests, and previews mail from the outbox of the data
// directory (the State file's).
func (s *Server) consoleHandler(ctx context.Context, subs *delivery.SubscriptionStore, api http.Handler) (http.Handler, error) {
	h := console.Host{
		Bus: s.cfg.Bus, Engine: s.cfg.Engine, Secrets: s.cfg.Secrets, Starter: s, Subscriptions: subs,
		Loaded: servedWorkflows{s.workflows}, Token: s.cfg.APIToken, ReadOnlyToken: s.cfg.ConsoleReadOnlyToken,
		PublicURL: s.cfg.PublicURL, Log: s.log,
	}
	if s.cfg.StateFile != "" {
		h.Outbox = &mail.Outbox{Dir: filepath.Join(filepath.Dir(s.cfg.StateFile), "outbox")}
	}
	if s.cfg.Workflows != nil {
		h.Uploads, h.Deployed = s, s.cfg.Workflows
	}
	opts, err := console.FromHost(ctx, h)
	if err != nil {
		return nil, err
	}
	// The item page asks the served signature blocks about their requests
	// through their host-only routes, in process.
	opts.Blocks = console.ServedBlocks(s.workflows.block)
	return console.Beside(api, console.New(opts)), nil
}

// servedWorkflows lists the served workflows for the console.
type servedWorkflows struct{ set *workflowSet }

func (w servedWorkflows) Workflows() []console.Workflow {
	w.set.mu.Lock()
	defer w.set.mu.Unlock()
	out := make([]console.Workflow, 0, len(w.set.served))
	for _, sw := range w.set.served {
		var list console.StaticWorkflows
		list.Add(sw.wf)
		out = append(out, list.Workflows()...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
