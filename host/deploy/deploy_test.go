package deploy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/workflow"
)

func TestMain(m *testing.M) { hosttest.Main(m) }

// letterWorkflow lives in flows/ and reaches its data and template
// through "..", as the workflows of this repository do.
const letterWorkflow = `name: letters
description: A letter per person
source:
  uses: csv
  with: {path: ../data/people.csv}
blocks:
  - id: letter
    uses: template
    with:
      template: ../templates/letter.md
      name: "Letter {{Name}}"
`

// writeTree writes files (slash paths) under a new temporary folder.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func logoPNG(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "templates", "logo.png"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

type fixture struct {
	env   *hosttest.Env
	store *deploy.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := hosttest.Start(t, hosttest.Options{Blocks: []string{"csv", "template"}})
	store := deploy.New(env.Engine.Store(), deploy.Options{
		CacheDir: filepath.Join(env.Dir, "workflows"), Catalog: env.Engine.Catalog(), Log: env.Log,
	})
	return &fixture{env: env, store: store}
}

func (f *fixture) deployTree(t *testing.T, root, file string) *deploy.Result {
	t.Helper()
	wf, problems := workflow.Load(filepath.Join(root, filepath.FromSlash(file)), f.env.Engine.Catalog())
	if len(problems) > 0 {
		t.Fatalf("load: %v", problems)
	}
	res, err := f.store.DeployFile(context.Background(), wf, "test")
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	return res
}

func letterTree(t *testing.T, greeting string) map[string]string {
	return map[string]string{
		"flows/letters.yaml":     letterWorkflow,
		"data/people.csv":        "Name\nAda\nGrace\n",
		"templates/letter.md":    "![logo](img/logo.png)\n\n" + greeting + " {{Name}}\n",
		"templates/img/logo.png": logoPNG(t),
		"templates/unused.txt":   "not referenced",
	}
}

// TestDeployedWorkflowRunsWithoutItsFolder deploys a workflow from a
// folder that is then deleted, and runs it from another host's copy.
func TestDeployedWorkflowRunsWithoutItsFolder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	root := writeTree(t, letterTree(t, "Dear"))
	res := f.deployTree(t, root, "flows/letters.yaml")
	if res.Unchanged || res.Version == "" || res.Previous != "" {
		t.Fatalf("first deploy: %+v", res)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}

	v, err := f.store.Version(ctx, "letters", "")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, file := range v.Files {
		paths = append(paths, file.Path)
	}
	want := "data/people.csv flows/letters.yaml templates/img/logo.png templates/letter.md"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("files %q, want %q (the image the template shows, not the unused file)", got, want)
	}
	if v.Workflow != "flows/letters.yaml" || v.Description != "A letter per person" {
		t.Errorf("version %+v", v)
	}

	// Another host: a store with a cache of its own.
	other := deploy.New(f.env.Engine.Store(), deploy.Options{CacheDir: filepath.Join(t.TempDir(), "workflows"), Catalog: f.env.Engine.Catalog()})
	wf, loaded, err := other.Load(ctx, "letters", "")
	if err != nil {
		t.Fatal(err)
	}
	if loaded.ID != res.Version {
		t.Errorf("loaded version %s, want %s", loaded.ID, res.Version)
	}
	logo := filepath.Join(wf.Dir, "..", "templates", "img", "logo.png")
	st, err := os.Stat(logo)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o222 != 0 {
		t.Errorf("%s is %v; the files of a version are read-only", logo, st.Mode())
	}
	sum, err := f.env.Engine.Run(ctx, wf, engine.RunOptions{Version: loaded.ID})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Items != 2 || sum.Failed != 0 {
		t.Fatalf("run: %+v", sum)
	}
	rec, err := f.env.Engine.RunRecord(ctx, sum.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Version != res.Version || rec.Trigger != "manual" {
		t.Errorf("run record version %q trigger %q, want %q manual", rec.Version, rec.Trigger, res.Version)
	}
	// A second load uses the copy already written.
	if _, _, err := other.Load(ctx, "letters", res.Version[:8]); err != nil {
		t.Fatalf("load by a prefix of the version: %v", err)
	}
}

// TestDeployHistoryRollbackDelete: identical content is one version;
// rollback and delete change what is current, and Watch sees each.
func TestDeployHistoryRollbackDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	updates, err := f.store.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := func(want deploy.Update) {
		t.Helper()
		select {
		case u := <-updates:
			if u != want {
				t.Fatalf("watch sent %+v, want %+v", u, want)
			}
		case <-ctx.Done():
			t.Fatalf("watch sent nothing; want %+v", want)
		}
	}

	next(deploy.Update{}) // nothing deployed yet
	first := f.deployTree(t, writeTree(t, letterTree(t, "Dear")), "flows/letters.yaml")
	next(deploy.Update{Name: "letters", Version: first.Version})
	again := f.deployTree(t, writeTree(t, letterTree(t, "Dear")), "flows/letters.yaml")
	if !again.Unchanged || again.Version != first.Version {
		t.Fatalf("identical deploy from another folder: %+v, want unchanged %s", again, first.Version)
	}
	second := f.deployTree(t, writeTree(t, letterTree(t, "Hello")), "flows/letters.yaml")
	if second.Unchanged || second.Version == first.Version || second.Previous != first.Version {
		t.Fatalf("changed template: %+v", second)
	}
	next(deploy.Update{Name: "letters", Version: second.Version})

	rb, err := f.store.Rollback(ctx, "letters", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	if rb.Version != first.Version {
		t.Fatalf("rollback to %s, want %s", rb.Version, first.Version)
	}
	next(deploy.Update{Name: "letters", Version: first.Version})
	list, err := f.store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Version != first.Version || list[0].Files != 4 {
		t.Fatalf("list %+v", list)
	}

	if err := f.store.Delete(ctx, "letters", "test"); err != nil {
		t.Fatal(err)
	}
	next(deploy.Update{Name: "letters"})
	if _, err := f.store.Version(ctx, "letters", ""); !errors.Is(err, deploy.ErrNotFound) {
		t.Fatalf("current version after delete: %v, want ErrNotFound", err)
	}
	if list, _ := f.store.List(ctx); len(list) != 0 {
		t.Fatalf("list after delete: %+v", list)
	}
	// Versions outlive a delete: runs on them finish, and rollback
	// brings the last one back.
	if _, err := f.store.Version(ctx, "letters", second.Version); err != nil {
		t.Fatal(err)
	}
	back, err := f.store.Rollback(ctx, "letters", second.Version, "test")
	if err != nil {
		t.Fatal(err)
	}
	next(deploy.Update{Name: "letters", Version: second.Version})
	if back.Version != second.Version {
		t.Fatalf("rollback after delete: %+v", back)
	}
	hist, err := f.store.History(ctx, "letters")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, c := range hist {
		actions = append(actions, c.Action+" "+c.Version)
	}
	want := []string{"deploy " + first.Version, "deploy " + second.Version, "rollback " + first.Version, "delete ", "rollback " + second.Version}
	if strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Errorf("history %q, want %q", actions, want)
	}
}

func TestNamesAndVersionsChecked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var nameErr *deploy.NameError
	for _, name := range []string{"", "../x", "A", "a.b", "a*", strings.Repeat("a", 101)} {
		if _, err := f.store.History(ctx, name); !errors.As(err, &nameErr) {
			t.Errorf("History(%q) = %v, want a NameError", name, err)
		}
	}
	for _, v := range []string{"xyz", "ABCDEF", "../..", "0123456789abcdef0"} {
		if _, err := f.store.Version(ctx, "letters", v); !errors.As(err, &nameErr) {
			t.Errorf("Version(%q) = %v, want a NameError", v, err)
		}
	}
	if _, err := f.store.Version(ctx, "nothing", ""); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("unknown workflow: %v", err)
	}
}

func TestBundleCheck(t *testing.T) {
	t.Parallel()
	wf := []byte("name: x\n")
	tests := []struct {
		path string
		ok   bool
	}{
		{"templates/letter.md", true},
		{"a/b/c.csv", true},
		{"../etc/passwd", false},
		{"a/../../b", false},
		{"/etc/passwd", false},
		{"a//b", false},
		{"./a", false},
		{"a\\..\\b", false},
		{"a\x00b", false},
		{"c:/x", false},
		{"", false},
		{".tmp-x/a", false},
		{strings.Repeat("a", 600), false},
	}
	for _, tc := range tests {
		b := &deploy.Bundle{Workflow: "wf.yaml", Files: map[string][]byte{"wf.yaml": wf, tc.path: []byte("x")}}
		err := b.Check()
		var be *deploy.BundleError
		if tc.ok != (err == nil) || (err != nil && !errors.As(err, &be)) {
			t.Errorf("Check with %q = %v, want ok=%v", tc.path, err, tc.ok)
		}
	}
	clash := &deploy.Bundle{Workflow: "wf.yaml", Files: map[string][]byte{"wf.yaml": wf, "a": nil, "a/b": nil}}
	if err := clash.Check(); err == nil {
		t.Error("a file that is also a folder passed")
	}
	big := &deploy.Bundle{Workflow: "wf.yaml", Files: map[string][]byte{"wf.yaml": wf, "big": make([]byte, deploy.MaxBundleBytes)}}
	var be *deploy.BundleError
	if err := big.Check(); !errors.As(err, &be) || !be.TooLarge {
		t.Errorf("a bundle over the limit: %v", err)
	}
	missing := &deploy.Bundle{Workflow: "wf.yaml", Files: map[string][]byte{"other.yaml": wf}}
	if err := missing.Check(); err == nil {
		t.Error("a bundle without its workflow file passed")
	}
}

// TestAbsolutePathRefused: a deployed workflow runs where the absolute
// path does not exist.
func TestAbsolutePathRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	data := writeTree(t, map[string]string{"people.csv": "Name\nAda\n"})
	root := writeTree(t, map[string]string{"wf.yaml": "name: abs\nsource: {uses: csv, with: {path: " + filepath.Join(data, "people.csv") + "}}\n"})
	wf, problems := workflow.Load(filepath.Join(root, "wf.yaml"), f.env.Engine.Catalog())
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	_, err := f.store.DeployFile(context.Background(), wf, "test")
	if err == nil || !strings.Contains(err.Error(), "absolute path") || !strings.Contains(err.Error(), "wf.yaml:2:") {
		t.Fatalf("deploy with an absolute path: %v", err)
	}
}

// servedSet records what Follow asks a host to serve.
type servedSet struct{ changes chan string }

func (s *servedSet) Add(_ context.Context, wf *workflow.Workflow) error {
	s.changes <- "add " + wf.Name + " " + filepath.Base(filepath.Dir(wf.Dir))
	return nil
}

func (s *servedSet) Remove(name string) { s.changes <- "remove " + name }

// TestFollow: a host serves what is deployed when it starts, then each
// new version, and stops serving a deleted workflow.
func TestFollow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first := f.deployTree(t, writeTree(t, letterTree(t, "Dear")), "flows/letters.yaml")
	set := &servedSet{changes: make(chan string, 10)}
	ready := make(chan struct{})
	go f.store.Follow(ctx, set, deploy.FollowOptions{Ready: func() { close(ready) }})
	next := func(want string) {
		t.Helper()
		select {
		case got := <-set.changes:
			if got != want {
				t.Fatalf("Follow did %q, want %q", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("Follow did nothing; want %q", want)
		}
	}
	// The workflow's folder in the cache is named by its version.
	next("add letters " + first.Version)
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("Follow never got ready")
	}
	second := f.deployTree(t, writeTree(t, letterTree(t, "Hello")), "flows/letters.yaml")
	next("add letters " + second.Version)
	if err := f.store.Delete(ctx, "letters", "test"); err != nil {
		t.Fatal(err)
	}
	next("remove letters")
}
