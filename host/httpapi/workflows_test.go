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
