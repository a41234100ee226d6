package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/deploy"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/httpapi"
)

func TestMain(m *testing.M) { hosttest.Main(m) }

const deployToken = "test-token"

func startDeployAPI(t *testing.T) string {
	t.Helper()
	env := hosttest.Start(t, hosttest.Options{Blocks: []string{"csv", "template"}})
	store := deploy.New(env.Engine.Store(), deploy.Options{CacheDir: filepath.Join(env.Dir, "workflows"), Catalog: env.Engine.Catalog(), Log: env.Log})
	api := &httpapi.Server{Token: deployToken, Log: env.Log, Deployments: &httpapi.Deployments{Store: store}}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// call sends body (a string, a reader or a value to encode) and returns
// the status and the decoded JSON answer.
func call(t *testing.T, method, url string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case io.Reader:
		r = b
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("Authorization", "Bearer "+deployToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, body %s; every answer is JSON", method, url, ct, raw)
	}
	out := map[string]any{}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, raw)
		}
	} else {
		out["list"] = string(raw)
	}
	return resp.StatusCode, out
}

const uploadedWorkflow = `name: uploaded
source: {uses: csv, with: {path: ../data/people.csv}}
blocks:
  - {id: letter, uses: template, with: {template: ../templates/letter.md}}
`

func upload(files map[string]string) map[string]any {
	enc := map[string]string{}
	for p, c := range files {
		enc[p] = base64.StdEncoding.EncodeToString([]byte(c))
	}
	return map[string]any{"path": "flows/wf.yaml", "definition": uploadedWorkflow, "files": enc}
}

func TestDeploymentsAPI(t *testing.T) {
	t.Parallel()
	base := startDeployAPI(t) + "/api/workflows"
	files := map[string]string{"data/people.csv": "Name\nAda\n", "templates/letter.md": "Dear {{Name}}\n"}

	status, got := call(t, "POST", base, upload(files))
	if status != http.StatusCreated || got["name"] != "uploaded" || got["unchanged"] != false {
		t.Fatalf("deploy: %d %v", status, got)
	}
	version := got["version"].(string)
	status, got = call(t, "POST", base, upload(files))
	if status != http.StatusOK || got["unchanged"] != true || got["version"] != version {
		t.Fatalf("deploy again: %d %v, want 200 unchanged %s", status, got, version)
	}
	if status, got = call(t, "GET", base, nil); status != 200 || !strings.Contains(got["list"].(string), version) {
		t.Fatalf("list: %d %v", status, got)
	}
	if status, got = call(t, "GET", base+"/uploaded", nil); status != 200 || got["version"] != version || got["workflow"] != "flows/wf.yaml" {
		t.Fatalf("show: %d %v", status, got)
	}
	if status, got = call(t, "GET", base+"/uploaded/versions/"+version[:6], nil); status != 200 || got["version"] != version {
		t.Fatalf("show by prefix: %d %v", status, got)
	}

	files["templates/letter.md"] = "Hello {{Name}}\n"
	status, got = call(t, "POST", base, upload(files))
	if status != http.StatusCreated || got["previous"] != version {
		t.Fatalf("deploy a change: %d %v", status, got)
	}
	if status, got = call(t, "POST", base+"/uploaded/rollback", nil); status != 200 || got["version"] != version {
		t.Fatalf("rollback: %d %v", status, got)
	}
	if status, got = call(t, "POST", base+"/uploaded/rollback", map[string]string{"version": "ffffffff"}); status != 404 {
		t.Fatalf("rollback to an unknown version: %d %v", status, got)
	}
	if status, got = call(t, "GET", base+"/uploaded/history", nil); status != 200 || strings.Count(got["list"].(string), `"action"`) != 3 {
		t.Fatalf("history: %d %v", status, got)
	}
	if status, got = call(t, "DELETE", base+"/uploaded", nil); status != 200 {
		t.Fatalf("delete: %d %v", status, got)
	}
	if status, got = call(t, "GET", base+"/uploaded", nil); status != 404 {
		t.Fatalf("show after delete: %d %v", status, got)
	}
	if status, got = call(t, "DELETE", base+"/uploaded", nil); status != 404 {
		t.Fatalf("delete twice: %d %v", status, got)
	}
}

// TestDeploymentsAPIRefusesHostileInput: every bad request gets a 4xx
// with a JSON error saying what is wrong.
func TestDeploymentsAPIRefusesHostileInput(t *testing.T) {
	t.Parallel()
	base := startDeployAPI(t) + "/api/workflows"
	good := map[string]string{"data/people.csv": "Name\nAda\n", "templates/letter.md": "Dear {{Name}}\n"}
	with := func(path, content string) map[string]any {
		files := map[string]string{path: content}
		for p, c := range good {
			files[p] = c
		}
		return upload(files)
	}
	tests := []struct {
		name   string
		method string
		url    string
		body   any
		status int
		says   string
	}{
		{"traversal", "POST", base, with("../../etc/cron.d/x", "x"), 400, "leaves its folder"},
		{"traversal inside", "POST", base, with("data/../../x", "x"), 400, "leaves its folder"},
		{"absolute", "POST", base, with("/etc/passwd", "x"), 400, "absolute"},
		{"backslash", "POST", base, with(`data\..\..\x`, "x"), 400, "backslashes"},
		{"hidden temp folder", "POST", base, with(".tmp-x/y", "x"), 400, "not allowed"},
		{"definition path leaves", "POST", base, map[string]any{"path": "../wf.yaml", "definition": uploadedWorkflow}, 400, "leaves its folder"},
		{"missing file", "POST", base, upload(map[string]string{"data/people.csv": "Name\nAda\n"}), 422, "letter.md"},
		{"not base64", "POST", base, `{"definition": "name: x", "files": {"a": "%%%"}}`, 400, "request body"},
		{"unknown field", "POST", base, `{"definition": "name: x", "file": {}}`, 400, "unknown field"},
		{"not JSON", "POST", base, "name: x\n", 400, "request body"},
		{"empty", "POST", base, `{}`, 400, "definition"},
		{"bad name", "GET", base + "/Bad.Name", nil, 400, "workflow name"},
		{"bad version", "GET", base + "/uploaded/versions/xyz", nil, 400, "version"},
		{"unknown", "GET", base + "/nothing", nil, 404, "not deployed"},
		{"huge", "POST", base, io.MultiReader(strings.NewReader(`{"definition": "`), io.LimitReader(zeros{}, 90<<20), strings.NewReader(`"}`)), 413, "larger than"},
	}
	for _, tc := range tests {
		status, got := call(t, tc.method, tc.url, tc.body)
		msg, _ := got["error"].(string)
		if status != tc.status || !strings.Contains(msg+strings.Join(anyStrings(got["problems"]), " "), tc.says) {
			t.Errorf("%s: %d %v; want %d saying %q", tc.name, status, got, tc.status, tc.says)
		}
	}
	req, _ := http.NewRequest("GET", base, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", resp.StatusCode)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'A'
	}
	return len(p), nil
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
