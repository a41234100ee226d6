package httpapi_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/httpapi"
)

func TestWorkflowsResolve(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "wf")
	given := filepath.Join(dir, "main.yaml")
	write(t, given, "name: main\n")
	write(t, filepath.Join(dir, "deep", "b.JSON"), "{}")
	write(t, filepath.Join(dir, "data.csv"), "a,b\n")
	write(t, filepath.Join(root, "wfx", "sibling.yaml"), "x: 1\n")
	write(t, filepath.Join(root, "outside.yaml"), "x: 1\n")
	if err := os.Symlink(filepath.Join(root, "outside.yaml"), filepath.Join(dir, "out.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "deep"), filepath.Join(dir, "in")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Join(dir, "up")); err != nil {
		t.Fatal(err)
	}
	// A workflow file given to serve from elsewhere through a symlink is
	// allowed itself; its target's directory is not.
	write(t, filepath.Join(root, "elsewhere", "real.yml"), "name: real\n")
	write(t, filepath.Join(root, "elsewhere", "secret.yml"), "x: 1\n")
	linked := filepath.Join(root, "links", "linked.yml")
	if err := os.MkdirAll(filepath.Dir(linked), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "elsewhere", "real.yml"), linked); err != nil {
		t.Fatal(err)
	}

	var w httpapi.Workflows
	if err := w.Add("main", given); err != nil {
		t.Fatal(err)
	}
	if err := w.Add("linked", linked); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want string // resolved path; "" when refused
	}{
		{given, given},
		{filepath.Join(dir, "deep", "b.JSON"), filepath.Join(dir, "deep", "b.JSON")},
		{filepath.Join(dir, "deep", "..", "main.yaml"), given},
		{filepath.Join(dir, "in", "b.JSON"), filepath.Join(dir, "deep", "b.JSON")},
		{linked, filepath.Join(root, "elsewhere", "real.yml")},
		{filepath.Join(dir, "..", "outside.yaml"), ""},
		{filepath.Join(dir, "out.yaml"), ""},
		{filepath.Join(dir, "up", "outside.yaml"), ""},
		{filepath.Join(dir, "up", "wf", "main.yaml"), given},
		{filepath.Join(root, "wfx", "sibling.yaml"), ""}, // a prefix of the name is not containment
		{filepath.Join(root, "elsewhere", "secret.yml"), ""},
		{filepath.Join(dir, "data.csv"), ""},
		{filepath.Join(dir, "missing.yaml"), ""},
		{dir, ""},
		{"/etc/passwd", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := w.Resolve(tc.path)
		want := tc.want
		if want != "" {
			want = resolved(t, want)
		}
		if got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.path, got, err, want)
		}
		var unknown *httpapi.UnknownWorkflowError
		if want == "" && (!errors.As(err, &unknown) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "main, linked") && !strings.Contains(err.Error(), "linked, main")) {
			t.Errorf("Resolve(%q): error %v, want an UnknownWorkflowError naming %s and the workflow names", tc.path, err, dir)
		}
	}
	if f, err := w.ByName("main"); err != nil || f != given {
		t.Errorf("ByName(main) = %q, %v", f, err)
	}
	if _, err := w.ByName("nope"); err == nil {
		t.Error("ByName(nope): no error")
	}
	var none httpapi.Workflows
	if _, err := none.Resolve(given); err == nil || !strings.Contains(err.Error(), "start serve with workflow files") {
		t.Errorf("empty Workflows: %v", err)
	}
}

// TestWorkflowsRemove: a removed workflow's name and file are refused,
// even while its directory stays allowed for another workflow, and a
// directory no allowed file lies in any more is refused too.
func TestWorkflowsRemove(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	shared, alone := filepath.Join(root, "shared"), filepath.Join(root, "alone")
	a, b, c := filepath.Join(shared, "a.yaml"), filepath.Join(shared, "b.yaml"), filepath.Join(alone, "c.yaml")
	other := filepath.Join(alone, "other.yaml")
	for _, f := range []string{a, b, c, other} {
		write(t, f, "name: x\n")
	}
	var w httpapi.Workflows
	for name, f := range map[string]string{"a": a, "b": b, "c": c} {
		if err := w.Add(name, f); err != nil {
			t.Fatal(err)
		}
	}
	w.Remove("a")
	w.Remove("c")
	w.Remove("never-added")
	for _, name := range []string{"a", "c"} {
		if f, err := w.ByName(name); err == nil {
			t.Errorf("ByName(%s) = %s after Remove", name, f)
		}
	}
	for _, f := range []string{a, c, other} {
		if got, err := w.Resolve(f); err == nil {
			t.Errorf("Resolve(%s) = %s after Remove", f, got)
		}
	}
	if _, err := w.Resolve(b); err != nil {
		t.Errorf("b, still served: %v", err)
	}
	var unknown *httpapi.UnknownWorkflowError
	if _, err := w.ByName("a"); !errors.As(err, &unknown) || strings.Join(unknown.Names, ",") != "b" || len(unknown.Dirs) != 1 {
		t.Errorf("after Remove the error names %+v, want b and one directory", unknown)
	}
	if err := w.Add("a", a); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Resolve(a); err != nil {
		t.Errorf("a added again: %v", err)
	}
}
