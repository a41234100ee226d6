package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/workflow"
)

// Update is a change of a workflow's current version, as Watch sends it.
type Update struct {
	Name string
	// Version is the new current version; "" when the workflow was
	// deleted.
	Version string
}

// Watch sends every deployed workflow's current version, then an Update
// with an empty Name marking the end of that present state, then each
// deploy, rollback and delete as it happens, on any host. The channel
// closes when ctx ends or the watch breaks (NATS gone); a caller that
// wants to go on watches again, since a new watch catches up by sending
// the present state first.
func (s *Store) Watch(ctx context.Context) (<-chan Update, error) {
	w, err := s.kv.Watch(ctx, "*.current")
	if err != nil {
		return nil, fmt.Errorf("watch deployed workflows: %w", err)
	}
	out := make(chan Update)
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }()
		for ent := range bus.Entries(ctx, w) {
			var u Update
			if ent != nil {
				u.Name = ent.Key()[:len(ent.Key())-len(".current")]
				if ent.Operation() == jetstream.KeyValuePut {
					p, err := decodePointer(ent.Value())
					if err != nil {
						s.o.Log.Warn("skip a damaged current version", "workflow", u.Name, "err", err)
						continue
					}
					u.Version = p.Version
				}
			}
			select {
			case out <- u:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// Served is the set of workflows a host serves (routes, sinks, scheduled
// callbacks); Follow keeps it in step with the deployed workflows.
type Served interface {
	// Add serves wf, replacing a workflow of the same name.
	Add(ctx context.Context, wf *workflow.Workflow) error
	// Remove stops serving the workflow name.
	Remove(name string)
}

// FollowOptions adjust Follow.
type FollowOptions struct {
	// Load are the options workflows load with (secrets).
	Load []workflow.Option
	// Ready, when set, is called once, when the workflows deployed when
	// Follow started are served (or failed to load, which is logged).
	Ready func()
	// Retry is the pause before watching again after the watch broke
	// (default 1 s).
	Retry time.Duration
}

// Follow serves every deployed workflow's current version in set, then
// follows deploys, rollbacks and deletes until ctx ends, watching again
// after NATS breaks the watch. A version that does not load or start on
// this host is logged and the one served before stays.
func (s *Store) Follow(ctx context.Context, set Served, o FollowOptions) {
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	served := map[string]string{} // name → version
	ready := o.Ready
	for ctx.Err() == nil {
		// A watch whose NATS node died can go quiet without closing: it
		// is made anew every few minutes; the present state it sends
		// first changes nothing that is already served.
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		updates, err := s.Watch(wctx)
		if err != nil {
			s.o.Log.Warn("watch deployed workflows; trying again", "err", err)
		}
		present := map[string]bool{}
		for u := range updates {
			switch {
			case u.Name == "":
				// A workflow deleted while the watch was broken.
				for name := range served {
					if !present[name] {
						set.Remove(name)
						delete(served, name)
					}
				}
				if ready != nil {
					ready()
					ready = nil
				}
				present = nil
			case u.Version == "":
				if _, ok := served[u.Name]; ok {
					set.Remove(u.Name)
					delete(served, u.Name)
					s.o.Log.Info("stopped serving a deleted workflow", "workflow", u.Name)
				}
			default:
				if present != nil {
					present[u.Name] = true
				}
				if served[u.Name] == u.Version {
					continue
				}
				if err := s.serve(ctx, set, u, o.Load); err != nil {
					s.o.Log.Error("cannot serve the deployed workflow on this host; the version served before stays",
						"workflow", u.Name, "version", u.Version, "err", err)
					continue
				}
				served[u.Name] = u.Version
			}
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(o.Retry):
		}
	}
}

func (s *Store) serve(ctx context.Context, set Served, u Update, opts []workflow.Option) error {
	wf, _, err := s.Load(ctx, u.Name, u.Version, opts...)
	if err != nil {
		return err
	}
	if wf.Name != u.Name {
		return errors.New("the version's workflow file names another workflow, " + wf.Name)
	}
	if err := set.Add(ctx, wf); err != nil {
		return err
	}
	s.o.Log.Info("serving deployed workflow", "workflow", u.Name, "version", u.Version)
	return nil
}
