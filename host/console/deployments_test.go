package console_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/workflow"
)

// TestWorkflowVersionsAndRollback deploys a second version of the test
// workflow, reads both in the page's history and rolls back to the first
// through the console's form; the read-only login cannot.
func TestWorkflowVersionsAndRollback(t *testing.T) {
	e := newEnv(t)
	first, err := e.deployed.Current(e.ctx, e.wf.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "items.csv"), []byte(itemsCSV(2)), 0o644); err != nil {
		t.Fatal(err)
	}
	wf, problems := workflow.Load(e.wf.File, e.engine.Catalog())
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	second, err := e.deployed.DeployFile(e.ctx, wf, "second-deployer")
	if err != nil {
		t.Fatal(err)
	}
	if second.Version == first.Version {
		t.Fatal("the changed items file made no new version")
	}
	page := e.url + "/workflows/" + e.wf.Name

	rw := e.client(t, testToken)
	resp, body := get(t, rw, page)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s\n%s", page, resp.Status, body)
	}
	for _, want := range []string{
		`data-current="` + second.Version + `"`, "second-deployer",
		`data-action="deploy" data-version="` + first.Version + `"`,
		`data-action="deploy" data-version="` + second.Version + `"`,
		`<option value="` + first.Version + `">`,
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("the workflow's page lacks %q", want)
		}
	}
	if strings.Index(body, `data-version="`+second.Version) > strings.Index(body, `data-version="`+first.Version) {
		t.Fatal("the history is not newest first")
	}
	_, list := get(t, rw, e.url+"/workflows")
	if !strings.Contains(list, "<code>"+second.Version+"</code>") {
		t.Fatal("the Workflows page does not show the current version")
	}

	// The read-only login sees the history but neither the form nor the
	// action.
	ro := e.client(t, readOnlyToken)
	_, roBody := get(t, ro, page)
	if strings.Contains(roBody, `/rollback"`) || !strings.Contains(roBody, `data-action="deploy"`) {
		t.Fatal("the read-only view offers the rollback form, or shows no history")
	}
	resp, err = ro.PostForm(page+"/rollback", url.Values{"csrf": {csrfField.FindStringSubmatch(roBody)[1]}, "version": {first.Version}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("read-only rollback: %s, want 403", resp.Status)
	}
	resp, err = rw.PostForm(page+"/rollback", url.Values{"version": {first.Version}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("rollback without the CSRF token: %s, want 403", resp.Status)
	}
	if cur, _ := e.deployed.Current(e.ctx, e.wf.Name); cur.Version != second.Version {
		t.Fatalf("a refused rollback changed the current version to %s", cur.Version)
	}

	resp, err = rw.PostForm(page+"/rollback", url.Values{"csrf": {csrfField.FindStringSubmatch(body)[1]}, "version": {first.Version}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/workflows/"+e.wf.Name {
		t.Fatalf("rollback: %s at %s, want the workflow's page", resp.Status, resp.Request.URL)
	}
	cur, err := e.deployed.Current(e.ctx, e.wf.Name)
	if err != nil || cur.Version != first.Version {
		t.Fatalf("current version after rollback: %s (%v), want %s", cur.Version, err, first.Version)
	}
	for _, want := range []string{
		"Rolled back to version " + first.Version, `data-current="` + first.Version + `"`,
		`data-action="rollback" data-version="` + first.Version + `"`, `<option value="` + second.Version + `">`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Fatalf("after rollback the page lacks %q", want)
		}
	}
}

// TestWorkflowPageEscapes asks for a workflow whose name is markup: the
// page refuses it as text.
func TestWorkflowPageEscapes(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, testToken)
	resp, body := get(t, c, e.url+"/workflows/"+url.PathEscape(hostile))
	if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "<img") {
		t.Fatalf("%s: want 404 with the name as text", resp.Status)
	}
}
