package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/engine"
)

// TestDeployUpload: an upload becomes a version that reads it, beside
// the workflow's other files, without becoming current or entering the
// history; the run on it reads the upload and records the version.
func TestDeployUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	root := writeTree(t, letterTree(t, "Dear"))
	res := f.deployTree(t, root, "flows/letters.yaml")
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}

	v, err := f.store.DeployUpload(ctx, "letters", "", `C:\Users\me\new people.csv`, []byte("Name\nAlan\nBarbara\nClaude\n"), "console")
	if err != nil {
		t.Fatal(err)
	}
	if v.ID == res.Version || v.Workflow != "flows/letters.yaml" || v.Description != "A letter per person" || v.By != "console" {
		t.Fatalf("upload version %+v (deployed %s)", v, res.Version)
	}
	var upload string
	for _, file := range v.Files {
		if strings.HasPrefix(file.Path, "flows/uploads/") {
			upload = file.Path
		}
	}
	if !strings.HasSuffix(upload, "/new_people.csv") {
		t.Fatalf("files %+v: want the upload under flows/uploads/ with its cleaned name", v.Files)
	}
	if cur, err := f.store.Current(ctx, "letters"); err != nil || cur.Version != res.Version {
		t.Fatalf("current %+v %v: the upload version must not become current", cur, err)
	}
	hist, err := f.store.History(ctx, "letters")
	if err != nil || len(hist) != 1 {
		t.Fatalf("history %+v %v: the upload is not a deploy", hist, err)
	}
	again, err := f.store.DeployUpload(ctx, "letters", res.Version, "new people.csv", []byte("Name\nAlan\nBarbara\nClaude\n"), "console")
	if err != nil || again.ID != v.ID {
		t.Fatalf("the same upload again: %+v %v, want version %s", again, err, v.ID)
	}

	wf, loaded, err := f.store.Load(ctx, "letters", v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := wf.Source.With["path"]; got != strings.TrimPrefix(upload, "flows/") {
		t.Errorf("source path %v, want %s", got, upload)
	}
	if _, err := os.Stat(filepath.Join(wf.Dir, "..", "templates", "letter.md")); err != nil {
		t.Errorf("the template is not beside the upload version: %v", err)
	}
	sum, err := f.env.Engine.Run(ctx, wf, engine.RunOptions{Version: loaded.ID})
	if err != nil || sum.Items != 3 || sum.Failed != 0 {
		t.Fatalf("run on the upload: %+v %v", sum, err)
	}
	if rec, err := f.env.Engine.RunRecord(ctx, sum.RunID); err != nil || rec.Version != v.ID {
		t.Fatalf("run record %+v %v, want version %s", rec, err, v.ID)
	}

	if _, err := f.store.DeployUpload(ctx, "nope", "", "a.csv", []byte("Name\n"), "console"); err == nil {
		t.Fatal("an upload to a workflow never deployed was stored")
	}
}
