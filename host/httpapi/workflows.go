package httpapi

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Workflows is the set of workflow files the run API may start: the files
// serve was given and the .yaml, .yml and .json files under their
// directories. The API resolves every request against it before anything
// opens the file, so an API token does not let its holder make the host
// read other files. The zero value allows nothing.
type Workflows struct {
	mu sync.RWMutex
	// dirs are the allowed directories as serve was given them (absolute),
	// for messages; roots are the same with symlinks resolved.
	dirs, roots []string
	files       map[string]string // files given to Add, symlinks resolved → their root
	removed     map[string]bool   // files of removed workflows, refused until added again
	names       map[string]string // workflow name → file as given to Add
	reals       map[string]string // workflow name → file, symlinks resolved
}

// workflowExts are the endings of the files the API loads.
var workflowExts = []string{".yaml", ".yml", ".json"}

// Add allows file, which serve loaded as workflow name, every workflow file
// under file's directory, and name as a short form of file.
func (w *Workflows) Add(name, file string) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return fmt.Errorf("allow workflow %s: %w", file, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("allow workflow %s: %w", file, err)
	}
	dir := filepath.Dir(abs)
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("allow workflow %s: %w", file, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.files == nil {
		w.files, w.names, w.reals = map[string]string{}, map[string]string{}, map[string]string{}
	}
	w.files[real] = root
	delete(w.removed, real)
	if name != "" {
		w.names[name], w.reals[name] = file, real
	}
	if !slices.Contains(w.roots, root) {
		w.roots = append(w.roots, root)
		w.dirs = append(w.dirs, dir)
	}
	return nil
}

// Remove stops allowing the workflow serve loaded as name, once it is
// deleted: its name, its file (even though its directory may stay allowed
// for other workflows) and its directory when no other allowed file is
// in it. A file removed comes back only with Add. Removing a name not
// added does nothing.
func (w *Workflows) Remove(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	real, ok := w.reals[name]
	if !ok {
		return
	}
	delete(w.names, name)
	delete(w.reals, name)
	delete(w.files, real)
	if w.removed == nil {
		w.removed = map[string]bool{}
	}
	w.removed[real] = true
	w.pruneRoots()
}

// pruneRoots drops the directories no allowed file lies in any more.
// It is called with w.mu held.
func (w *Workflows) pruneRoots() {
	var dirs, roots []string
	for i, root := range w.roots {
		for _, r := range w.files {
			if r == root {
				dirs, roots = append(dirs, w.dirs[i]), append(roots, root)
				break
			}
		}
	}
	w.dirs, w.roots = dirs, roots
}

// UnknownWorkflowError is the answer to a request for a workflow the API
// does not run. It names the allowed directories, never the reason a path
// was refused (missing, outside, not a workflow file), so the API is no way
// to learn what exists on the host.
type UnknownWorkflowError struct {
	Ref   string   // the path or name asked for
	Dirs  []string // the allowed directories
	Names []string // the names of the workflows serve loaded
}

func (e *UnknownWorkflowError) Error() string {
	dirs := "none: start serve with workflow files"
	if len(e.Dirs) > 0 {
		dirs = strings.Join(e.Dirs, ", ")
	}
	msg := fmt.Sprintf("unknown workflow %q: the API runs only workflow files under the directories serve was started with (%s)", e.Ref, dirs)
	if len(e.Names) > 0 {
		msg += fmt.Sprintf(`; or send {"workflow": "<name>"} with one of %s`, strings.Join(e.Names, ", "))
	}
	return msg
}

// ByName returns the file of the workflow serve loaded as name.
func (w *Workflows) ByName(name string) (string, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if f, ok := w.names[name]; ok {
		return f, nil
	}
	return "", w.unknown(name)
}

// Resolve returns the file to load for a path a client sent, with every
// symlink resolved, if it is allowed: a file given to Add, or a regular
// .yaml, .yml or .json file under one of their directories once symlinks
// and ".." are resolved. A relative path is taken from serve's working
// directory. Resolve reads no file's content.
func (w *Workflows) Resolve(path string) (string, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	real, err := resolvePath(path)
	if err != nil || !w.allowed(real) {
		return "", w.unknown(path)
	}
	return real, nil
}

func resolvePath(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", errors.New("not a regular file")
	}
	return real, nil
}

// allowed says whether real, a resolved path to a regular file, may run.
func (w *Workflows) allowed(real string) bool {
	if _, ok := w.files[real]; ok {
		return true
	}
	if w.removed[real] {
		return false
	}
	if !slices.Contains(workflowExts, strings.ToLower(filepath.Ext(real))) {
		return false
	}
	for _, root := range w.roots {
		if within(root, real) {
			return true
		}
	}
	return false
}

// within says whether path lies under dir; both are clean and absolute.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	if err != nil || filepath.IsAbs(rel) {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// unknown is called with w.mu held.
func (w *Workflows) unknown(ref string) error {
	names := make([]string, 0, len(w.names))
	for n := range w.names {
		names = append(names, n)
	}
	slices.Sort(names)
	return &UnknownWorkflowError{Ref: ref, Dirs: slices.Clone(w.dirs), Names: names}
}
