package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/workflow"
)

// Load loads version of workflow name (the current one when version is
// empty) from this host's copy of its files, written first when this
// host has none. opts go to workflow.Load (secrets).
func (s *Store) Load(ctx context.Context, name, version string, opts ...workflow.Option) (*workflow.Workflow, *Version, error) {
	v, err := s.Version(ctx, name, version)
	if err != nil {
		return nil, nil, err
	}
	wf, err := s.LoadVersion(ctx, v, opts...)
	return wf, v, err
}

// LoadVersion loads v from this host's copy of its files (see
// Materialise).
func (s *Store) LoadVersion(ctx context.Context, v *Version, opts ...workflow.Option) (*workflow.Workflow, error) {
	dir, err := s.Materialise(ctx, v)
	if err != nil {
		return nil, err
	}
	wf, problems := workflow.Load(filepath.Join(dir, filepath.FromSlash(v.Workflow)), s.o.Catalog, opts...)
	if len(problems) > 0 {
		return nil, fmt.Errorf("version %s of %s does not load on this host (a block missing or of another version here?):\n%w", v.ID, v.Name, problems)
	}
	return wf, nil
}

// Materialise returns the folder that holds v's files on this host:
// <CacheDir>/<version>. The files are written once, into a temporary
// folder renamed into place, so a reader never sees half a version and
// hosts sharing a data directory may race; each file's hash is checked
// on the way. The files are read-only afterwards; the folders stay
// writable for blocks that write beside their workflow (a template's
// output_dir).
func (s *Store) Materialise(ctx context.Context, v *Version) (string, error) {
	if s.o.CacheDir == "" {
		return "", errors.New("deploy: no cache folder for workflow files; set Options.CacheDir")
	}
	if err := checkVersion(v.ID); err != nil {
		return "", err
	}
	dir := filepath.Join(s.o.CacheDir, v.ID)
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	if err := os.MkdirAll(s.o.CacheDir, 0o700); err != nil {
		return "", fmt.Errorf("create the workflow cache %s: %w (check --data-dir)", s.o.CacheDir, err)
	}
	tmp, err := os.MkdirTemp(s.o.CacheDir, ".tmp-"+v.ID+"-")
	if err != nil {
		return "", fmt.Errorf("write version %s of %s: %w", v.ID, v.Name, err)
	}
	defer os.RemoveAll(tmp) // gone after the rename; left over after a failure
	for _, f := range v.Files {
		if err := checkPath(f.Path); err != nil {
			return "", fmt.Errorf("version %s of %s: %w", v.ID, v.Name, err)
		}
		if err := s.writeFile(ctx, filepath.Join(tmp, filepath.FromSlash(f.Path)), f); err != nil {
			return "", fmt.Errorf("write version %s of %s: %w", v.ID, v.Name, err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if st, serr := os.Stat(dir); serr == nil && st.IsDir() {
			return dir, nil // another process wrote it first
		}
		return "", fmt.Errorf("write version %s of %s: %w", v.ID, v.Name, err)
	}
	s.o.Log.Debug("workflow version written", "workflow", v.Name, "version", v.ID, "dir", dir)
	return dir, nil
}

// writeFile copies f from the object store to p, checking its hash.
func (s *Store) writeFile(ctx context.Context, p string, f File) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	obj, err := s.files.Get(ctx, objectName(f.SHA256))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("%s: its content %s is missing from the object store; deploy the workflow again", f.Path, f.SHA256)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	defer obj.Close()
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), obj)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("%s: content hash %s, not the %s the version names; the object store is damaged, deploy the workflow again", f.Path, got, f.SHA256)
	}
	return os.Chmod(p, 0o444)
}

// LoadBundle checks an uploaded bundle as a file on disk is checked: it
// writes the files into a temporary folder under CacheDir and loads the
// workflow file from there. Problems name the file by its path in the
// bundle. The caller calls done when it no longer needs the workflow's
// files (after Deploy and any further checks).
func (s *Store) LoadBundle(b *Bundle, opts ...workflow.Option) (wf *workflow.Workflow, done func(), err error) {
	if err := b.Check(); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(s.o.CacheDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create the workflow cache %s: %w (check --data-dir)", s.o.CacheDir, err)
	}
	tmp, err := os.MkdirTemp(s.o.CacheDir, ".tmp-upload-")
	if err != nil {
		return nil, nil, err
	}
	done = func() { _ = os.RemoveAll(tmp) }
	for p, data := range b.Files {
		full := filepath.Join(tmp, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err == nil {
			err = os.WriteFile(full, data, 0o644)
		}
		if err != nil {
			done()
			return nil, nil, fmt.Errorf("write the uploaded %s: %w", p, err)
		}
	}
	file := filepath.Join(tmp, filepath.FromSlash(b.Workflow))
	wf, problems := workflow.Load(file, s.o.Catalog, opts...)
	if len(problems) > 0 {
		done()
		for i := range problems {
			if problems[i].File == file {
				problems[i].File = b.Workflow
			}
		}
		return nil, nil, problems
	}
	return wf, done, nil
}
