// Package deploy keeps deployed workflows in NATS, so that any host runs
// any workflow with no files of its own.
//
// A deployed workflow is a series of immutable, content-addressed
// versions. A version is the workflow file and every file it references
// (templates, their images, the source's data file), each by a path
// relative to a root holding them all; its id is the hash of those paths
// and of every file's hash, so deploying the same content twice is one
// version. In the KV bucket bus.WorkflowsBucket:
//
//	<name>.current   → the version hosts serve (a Pointer)
//	<name>.v.<id>    → a Version: the manifest of the version's files
//	<name>.history   → the deploys, rollbacks and deletes (Changes)
//
// The files themselves sit in the object store bus.WorkflowFilesBucket
// by content hash, so a file shared by versions is stored once. A host
// that runs a version writes its files once into a cache folder of its
// data directory (see Load), so blocks keep reading real files relative
// to their workflow's folder.
package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/workflow"
)

// Options configure a Store.
type Options struct {
	// CacheDir is where this host writes the files of the versions it
	// loads: <data-dir>/workflows.
	CacheDir string
	// Catalog describes the installed blocks, for loading workflows and
	// finding the files they reference.
	Catalog workflow.Catalog
	Log     *slog.Logger
}

// Store is the deployed workflows in NATS. It is safe for concurrent use.
type Store struct {
	kv    jetstream.KeyValue
	files jetstream.ObjectStore
	o     Options
}

// New returns the Store of the workflows kept in s.
func New(s *bus.Store, o Options) *Store {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Store{kv: s.Workflows, files: s.WorkflowFiles, o: o}
}

// Version is one immutable deployed version of a workflow.
type Version struct {
	Name        string `json:"name"`
	ID          string `json:"version"`
	Description string `json:"description,omitempty"`
	// Workflow is the path of the workflow file among Files.
	Workflow string    `json:"workflow"`
	Files    []File    `json:"files"`
	Created  time.Time `json:"created"`
	By       string    `json:"by,omitempty"`
}

// File is one file of a version.
type File struct {
	Path   string `json:"path"` // slash path from the version's root
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Pointer is a workflow's current version: what every host serves.
type Pointer struct {
	Version string    `json:"version"`
	Since   time.Time `json:"since"`
	By      string    `json:"by,omitempty"`
}

// Change is one entry of a workflow's history.
type Change struct {
	Action  string    `json:"action"` // deploy, rollback, delete
	Version string    `json:"version,omitempty"`
	At      time.Time `json:"at"`
	By      string    `json:"by,omitempty"`
}

// Deployed is a workflow as listed: its name and current version.
type Deployed struct {
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Description string    `json:"description,omitempty"`
	Since       time.Time `json:"since"`
	By          string    `json:"by,omitempty"`
	Files       int       `json:"files"`
	Bytes       int64     `json:"bytes"`
}

// Result is what a deploy did.
type Result struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Previous is the version current before, "" for a first deploy.
	Previous string `json:"previous,omitempty"`
	// Unchanged is a deploy of the content already current: nothing was
	// written.
	Unchanged bool     `json:"unchanged"`
	Notes     []string `json:"notes,omitempty"`
}

// ErrNotFound is wrapped by the errors for a workflow or version that is
// not deployed.
var ErrNotFound = errors.New("not deployed")

// notFound is an error that says what was not found in its own words and
// still matches ErrNotFound, whose text ("not deployed") would be wrong for
// a workflow that is deployed but lacks the version asked for.
type notFound string

func (e notFound) Error() string        { return string(e) }
func (e notFound) Is(target error) bool { return target == ErrNotFound }

// NameError is a workflow name or version id that cannot be one.
type NameError struct{ Msg string }

func (e *NameError) Error() string { return e.Msg }

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,99}$`)
	versionRE = regexp.MustCompile(`^[0-9a-f]{4,16}$`)
)

// CheckName refuses what cannot be a workflow's name (the pattern of the
// workflow schema's name).
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return &NameError{Msg: fmt.Sprintf("workflow name %q: a name is lowercase letters, digits, '-' and '_', starting with a letter or digit, at most 100 characters", clip(name))}
	}
	return nil
}

func checkVersion(v string) error {
	if !versionRE.MatchString(v) {
		return &NameError{Msg: fmt.Sprintf("version %q: a version is 4 to 16 lowercase hex digits, as `paperflow workflows history NAME` lists them", clip(v))}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

func currentKey(name string) string     { return name + ".current" }
func versionKey(name, id string) string { return name + ".v." + id }
func historyKey(name string) string     { return name + ".history" }

// maxHistory bounds a workflow's history; older changes are dropped.
const maxHistory = 500

// DeployFile gathers a loaded workflow's files (see Gather) and deploys
// them.
func (s *Store) DeployFile(ctx context.Context, wf *workflow.Workflow, by string) (*Result, error) {
	b, err := Gather(wf, s.o.Catalog)
	if err != nil {
		return nil, err
	}
	return s.Deploy(ctx, wf, b, by)
}

// Deploy stores bundle b, whose workflow file loaded as wf, as a version
// of wf.Name and makes it current. Content already current changes
// nothing (Result.Unchanged); content deployed before is not stored again.
func (s *Store) Deploy(ctx context.Context, wf *workflow.Workflow, b *Bundle, by string) (*Result, error) {
	if err := CheckName(wf.Name); err != nil {
		return nil, err
	}
	if err := b.Check(); err != nil {
		return nil, err
	}
	id, files := versionID(b)
	res := &Result{Name: wf.Name, Version: id, Notes: b.Notes}
	cur, _, err := s.pointer(ctx, wf.Name)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return nil, err
	default:
		res.Previous = cur.Version
		if cur.Version == id {
			res.Unchanged = true
			return res, nil
		}
	}
	for _, f := range files {
		if err := s.putFile(ctx, f, b.Files[f.Path]); err != nil {
			return nil, err
		}
	}
	v := Version{Name: wf.Name, ID: id, Description: wf.Description, Workflow: b.Workflow, Files: files, Created: time.Now().UTC(), By: by}
	raw, _ := json.Marshal(v)
	if _, err := s.kv.Create(ctx, versionKey(wf.Name, id), raw); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("deploy %s: store version %s: %w", wf.Name, id, err)
	}
	if err := s.setCurrent(ctx, wf.Name, id, "deploy", by); err != nil {
		return nil, err
	}
	s.o.Log.Info("workflow deployed", "workflow", wf.Name, "version", id, "previous", res.Previous, "by", by)
	return res, nil
}

// objectName is where a file's content sits in the object store.
func objectName(sha string) string { return "sha256-" + sha }

func (s *Store) putFile(ctx context.Context, f File, data []byte) error {
	name := objectName(f.SHA256)
	if info, err := s.files.GetInfo(ctx, name); err == nil && info.Size == uint64(f.Size) {
		return nil
	} else if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("deploy: look up %s: %w", f.Path, err)
	}
	if _, err := s.files.Put(ctx, jetstream.ObjectMeta{Name: name}, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("deploy: store %s: %w", f.Path, err)
	}
	return nil
}

// setCurrent points name at version id and records why in the history.
func (s *Store) setCurrent(ctx context.Context, name, id, action, by string) error {
	now := time.Now().UTC()
	raw, _ := json.Marshal(Pointer{Version: id, Since: now, By: by})
	if _, err := s.kv.Put(ctx, currentKey(name), raw); err != nil {
		return fmt.Errorf("%s %s: make version %s current: %w", action, name, id, err)
	}
	return s.record(ctx, name, Change{Action: action, Version: id, At: now, By: by})
}

// record appends c to name's history, with compare-and-set so that
// concurrent deploys keep each other's entries.
func (s *Store) record(ctx context.Context, name string, c Change) error {
	for attempt := 0; ; attempt++ {
		hist, rev, err := s.history(ctx, name)
		if err != nil {
			return err
		}
		hist = append(hist, c)
		if len(hist) > maxHistory {
			hist = hist[len(hist)-maxHistory:]
		}
		raw, _ := json.Marshal(hist)
		if rev == 0 {
			_, err = s.kv.Create(ctx, historyKey(name), raw)
		} else {
			_, err = s.kv.Update(ctx, historyKey(name), raw, rev)
		}
		if err == nil {
			return nil
		}
		if attempt >= 20 || ctx.Err() != nil {
			return fmt.Errorf("record the %s of %s in its history: %w", c.Action, name, err)
		}
	}
}

func (s *Store) history(ctx context.Context, name string) ([]Change, uint64, error) {
	ent, err := s.kv.Get(ctx, historyKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read the history of %s: %w", name, err)
	}
	var hist []Change
	if err := json.Unmarshal(ent.Value(), &hist); err != nil {
		return nil, 0, fmt.Errorf("the history of %s is damaged: %w", name, err)
	}
	return hist, ent.Revision(), nil
}

// pointer reads name's current version.
func (s *Store) pointer(ctx context.Context, name string) (Pointer, uint64, error) {
	ent, err := s.kv.Get(ctx, currentKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Pointer{}, 0, fmt.Errorf("workflow %q: %w (list the deployed ones with `paperflow workflows list`; deploy one with `paperflow deploy FILE`)", name, ErrNotFound)
	}
	if err != nil {
		return Pointer{}, 0, fmt.Errorf("read the current version of %s: %w", name, err)
	}
	p, err := decodePointer(ent.Value())
	if err != nil {
		return Pointer{}, 0, fmt.Errorf("the current version of %s is damaged: %w", name, err)
	}
	return p, ent.Revision(), nil
}

func decodePointer(raw []byte) (Pointer, error) {
	var p Pointer
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, err
	}
	return p, checkVersion(p.Version)
}

// Current returns the version of name that hosts serve.
func (s *Store) Current(ctx context.Context, name string) (Pointer, error) {
	if err := CheckName(name); err != nil {
		return Pointer{}, err
	}
	p, _, err := s.pointer(ctx, name)
	return p, err
}

// Version returns version id of name; an empty id is the current one, and
// a unique prefix of a version in name's history is that version.
func (s *Store) Version(ctx context.Context, name, id string) (*Version, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if id == "" {
		p, _, err := s.pointer(ctx, name)
		if err != nil {
			return nil, err
		}
		id = p.Version
	}
	if err := checkVersion(id); err != nil {
		return nil, err
	}
	if len(id) < versionLen {
		full, err := s.expand(ctx, name, id)
		if err != nil {
			return nil, err
		}
		id = full
	}
	ent, err := s.kv.Get(ctx, versionKey(name, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, notFound(fmt.Sprintf("workflow %q has no version %s (see `paperflow workflows history %s`)", name, id, name))
	}
	if err != nil {
		return nil, fmt.Errorf("read version %s of %s: %w", id, name, err)
	}
	var v Version
	if err := json.Unmarshal(ent.Value(), &v); err != nil {
		return nil, fmt.Errorf("version %s of %s is damaged: %w", id, name, err)
	}
	return &v, nil
}

// expand finds the version of name whose id starts with prefix.
func (s *Store) expand(ctx context.Context, name, prefix string) (string, error) {
	lister, err := s.kv.ListKeysFiltered(ctx, versionKey(name, "*"))
	if err != nil {
		return "", fmt.Errorf("list the versions of %s: %w", name, err)
	}
	var found []string
	for k := range lister.Keys() {
		if id := strings.TrimPrefix(k, versionKey(name, "")); strings.HasPrefix(id, prefix) {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 0:
		return "", notFound(fmt.Sprintf("workflow %q has no version %s (see `paperflow workflows history %s`)", name, prefix, name))
	case 1:
		return found[0], nil
	}
	return "", &NameError{Msg: fmt.Sprintf("version %s of %s is ambiguous (%s): give more digits", prefix, name, strings.Join(found, ", "))}
}

// History lists name's deploys, rollbacks and deletes, oldest first.
func (s *Store) History(ctx context.Context, name string) ([]Change, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	hist, _, err := s.history(ctx, name)
	if err == nil && len(hist) == 0 {
		err = fmt.Errorf("workflow %q: %w (list the deployed ones with `paperflow workflows list`)", name, ErrNotFound)
	}
	return hist, err
}

// List returns every deployed workflow with its current version, by name.
func (s *Store) List(ctx context.Context) ([]Deployed, error) {
	lister, err := s.kv.ListKeysFiltered(ctx, "*.current")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return []Deployed{}, nil
		}
		return nil, fmt.Errorf("list deployed workflows: %w", err)
	}
	out := []Deployed{}
	for k := range lister.Keys() {
		name := strings.TrimSuffix(k, ".current")
		p, _, err := s.pointer(ctx, name)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		d := Deployed{Name: name, Version: p.Version, Since: p.Since, By: p.By}
		if v, err := s.Version(ctx, name, p.Version); err == nil {
			d.Description, d.Files = v.Description, len(v.Files)
			for _, f := range v.Files {
				d.Bytes += f.Size
			}
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Deployed) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Rollback makes an earlier version of name current: version, or without
// one the version that was current before the present one.
func (s *Store) Rollback(ctx context.Context, name, version, by string) (*Result, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	hist, err := s.History(ctx, name)
	if err != nil {
		return nil, err
	}
	res := &Result{Name: name}
	if p, _, err := s.pointer(ctx, name); err == nil {
		res.Previous = p.Version
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if version == "" {
		version = previous(hist, res.Previous)
		if version == "" {
			return nil, notFound(fmt.Sprintf("workflow %q has no earlier version to roll back to (see `paperflow workflows history %s`)", name, name))
		}
	}
	v, err := s.Version(ctx, name, version)
	if err != nil {
		return nil, err
	}
	res.Version = v.ID
	if v.ID == res.Previous {
		res.Unchanged = true
		return res, nil
	}
	if err := s.setCurrent(ctx, name, v.ID, "rollback", by); err != nil {
		return nil, err
	}
	s.o.Log.Info("workflow rolled back", "workflow", name, "version", v.ID, "previous", res.Previous, "by", by)
	return res, nil
}

// previous is the version current before cur: the latest one in the
// history that differs from it.
func previous(hist []Change, cur string) string {
	for i := len(hist) - 1; i >= 0; i-- {
		if c := hist[i]; c.Version != "" && c.Version != cur {
			return c.Version
		}
	}
	return ""
}

// Delete stops every host serving name. Its versions stay, so runs that
// started on one finish on it and `rollback` can bring one back.
func (s *Store) Delete(ctx context.Context, name, by string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if _, _, err := s.pointer(ctx, name); err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, currentKey(name)); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	s.o.Log.Info("workflow deleted", "workflow", name, "by", by)
	return s.record(ctx, name, Change{Action: "delete", At: time.Now().UTC(), By: by})
}
