package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/mail"
)

// binDir holds bin/paperflow and bin/plugins/*, built once by TestMain the
// way `make build` lays them out.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "paperflow-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	err = hosttest.BuildBlocks(dir, map[string]string{
		"paperflow":         ".",
		"plugins/csv":       "../../../plugins/csv",
		"plugins/json":      "../../../plugins/json",
		"plugins/noop":      "../../../plugins/noop",
		"plugins/template":  "../../../plugins/template",
		"plugins/signature": "../../../plugins/signature",
		"plugins/email":     "../../../plugins/email",
		"plugins/webhook":   "../../../plugins/webhook",
		"plugins/derive":    "../../../examples/block-plugin",
		"plugins/testblock": "../../engine/testdata/blocks/testblock",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := leftoverBlocks(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func paperflow(t *testing.T, dataDir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "paperflow"), append([]string{"--data-dir", dataDir}, args...)...)
	cmd.Env = append(os.Environ(), "PAPERFLOW_NATS_URL=", "PAPERFLOW_SECRET_TAG=s3cret")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("paperflow %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// serveEmbedded starts `paperflow serve` on data with its own embedded
// NATS, the default setup, passing args after "serve" (flags, workflow
// files). It returns the HTTP address once serve takes runs, and its log;
// it fails with the log if serve exits first. Cleanup stops it with
// SIGTERM, as a person would, so its blocks stop with it.
func serveEmbedded(t *testing.T, data string, args ...string) (addr string, log *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "paperflow"), append([]string{"--data-dir", data, "--http", "127.0.0.1:0", "--plugins", filepath.Join(binDir, "plugins"), "serve"}, args...)...)
	cmd.Env = append(os.Environ(), "PAPERFLOW_NATS_URL=")
	log, exited := startServeCmd(t, cmd)
	addr = serveStarted(t, cmd, exited, log, data)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(time.Minute): // then startServeCmd's cleanup kills it
		}
	})
	return addr, log
}

// postJSON posts body to url with the API token, if any, and returns the
// status and the answer.
func postJSON(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestValidateReportsEveryProblemWithPosition(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"items.csv": "Name\nA\n",
		"bad.yaml": `name: Bad Name
source: {uses: csv, with: {path: missing.csv}}
blocks:
  - {id: one, uses: nosuchblock}
  - {id: two, uses: testblock, with: {message: "{{Name", unknown_key: 1}}
  - {id: two, uses: testblock, with: {message: "{{blocks.later.x}}"}}
`,
		"good.yaml": "name: good\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: a, uses: noop}\n",
	})
	r := paperflow(t, t.TempDir(), "validate", filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml"))
	if r.code != 1 {
		t.Fatalf("exit code %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Log(r.stdout)
	if !strings.Contains(r.stdout, "good.yaml: ok") {
		t.Errorf("good file not reported ok")
	}
	lines := regexp.MustCompile(`(?m)^\S*bad\.yaml:(\d+):(\d+): .+$`).FindAllStringSubmatch(r.stdout, -1)
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l[1]] = true
	}
	for _, line := range []string{"1", "2", "4", "5", "6"} {
		if !seen[line] {
			t.Errorf("no problem reported on line %s:\n%s", line, r.stdout)
		}
	}
	for _, want := range []string{"missing.csv", "nosuchblock", "unknown_key", "two"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output does not mention %q", want)
		}
	}
}

// TestValidateAsksBlocksToConfigure: what only the block can judge (a tag
// broken inside a template file) is reported at validate time too.
func TestValidateAsksBlocksToConfigure(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"items.csv":   "Name\nA\n",
		"letter.md":   "# Hello {{Name\n",
		"broken.yaml": "name: broken\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: letter, uses: template, with: {template: letter.md}}\n",
	})
	r := paperflow(t, t.TempDir(), "validate", filepath.Join(dir, "broken.yaml"))
	if r.code != 1 || !regexp.MustCompile(`broken\.yaml:4:5: block "letter": template letter\.md:1:\d+: unclosed tag`).MatchString(r.stdout) {
		t.Fatalf("exit %d, output:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestRunPrintsJSONSummaryAndFailsOnBadItems(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"items.csv": "First Name,behaviour\nAda,\nBob,fail\n\"Broken,\n",
		"wf.yaml": `name: cli
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: docs, uses: testblock, with: {emit: true, message: "Hi {{First Name}}"}}
  - {id: derive, uses: derive, with: {fields: {Greeting: "Hello {{First Name}}"}}}
`,
	})
	r := paperflow(t, t.TempDir(), "run", filepath.Join(dir, "wf.yaml"), "--output", "json")
	if r.code != 1 {
		t.Fatalf("exit code %d, want 1 (an item failed)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var sum struct {
		RunID     string           `json:"run_id"`
		Items     int              `json:"items"`
		Succeeded int              `json:"succeeded"`
		Failed    int              `json:"failed"`
		Events    map[string]int   `json:"events"`
		Errors    []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, r.stdout)
	}
	if sum.Items != 3 || sum.Succeeded != 1 || sum.Failed != 2 || sum.Events["DOCUMENTS_CREATED"] != 1 || sum.RunID == "" {
		t.Errorf("summary: %+v", sum)
	}
}

func TestSIGKILLAndResumePublishesEveryEventOnce(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	const items = 160
	wf := slowWorkflow(t, "killme", items, 40)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)

	cmd, id, exited := startRun(t, "--data-dir", t.TempDir(), "--nats", ns.ClientURL(), "run", wf, "--batch", "4")
	// Kill it once some, not all, items are done.
	waitFor(t, func() bool { return outcomeCount(t, js, id) >= 20 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	done := outcomeCount(t, js, id)
	if done >= items {
		t.Fatalf("the run finished before the kill (%d outcomes); make it slower", done)
	}

	r := paperflowNATS(t, ns.ClientURL(), "run", wf, "--resume", id, "--output", "json")
	if r.code != 0 {
		t.Fatalf("resume exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var sum struct {
		Items, Succeeded int
	}
	_ = json.Unmarshal([]byte(r.stdout), &sum)
	if sum.Items != items || sum.Succeeded != items {
		t.Errorf("resumed summary: %s", r.stdout)
	}
	// Every event of the run exactly once: 2 per item, unique ids.
	if unique, dups := eventCounts(t, js, "killme", id); unique != 2*items || dups != 0 {
		t.Errorf("events: %d unique (want %d), %d duplicated", unique, 2*items, dups)
	}
}

func paperflowNATS(t *testing.T, url string, args ...string) result {
	return paperflow(t, t.TempDir(), append([]string{"--nats", url}, args...)...)
}

func startNATS(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), MaxPayload: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(s.Shutdown)
	return s
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// outcomeCount counts the item outcomes recorded for a run (each message
// holds a batch of them).
func outcomeCount(t *testing.T, js jetstream.JetStream, runID string) int {
	n := 0
	for _, raw := range streamData(t, js, "PAPERFLOW_OUTCOMES", "paperflow.outcomes."+runID) {
		var batch []json.RawMessage
		_ = json.Unmarshal(raw, &batch)
		n += len(batch)
	}
	return n
}

// streamData reads every message of subject in stream.
func streamData(t *testing.T, js jetstream.JetStream, stream, subject string) [][]byte {
	t.Helper()
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return nil
	}
	var out [][]byte
	for {
		batch, err := cons.FetchNoWait(1000)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			out = append(out, m.Data())
		}
		if n == 0 {
			return out
		}
	}
}

func TestServeTakesRunsAndServesHealth(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	dir := writeFiles(t, map[string]string{
		"items.csv": "Name\nA\nB\nC\n",
		"wf.yaml":   "name: served\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: docs, uses: testblock, with: {emit: true}}\n",
	})
	addr, serr := serveEmbedded(t, data, "--api-token", "tok-123", filepath.Join(dir, "wf.yaml"))
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	// A block's route, served through the host; the page escapes input.
	resp, err = http.Get("http://" + addr + "/blocks/served/docs/hello?name=%3Cb%3EAda%3C/b%3E")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(page) != "<p>hello &lt;b&gt;Ada&lt;/b&gt; from docs</p>" {
		t.Errorf("block route: %d %q", resp.StatusCode, page)
	}
	resp, err = http.Get("http://" + addr + "/blocks/served/nosuch/hello")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("unknown block route: %d, want 404", resp.StatusCode)
		}
	}
	// The run API wants the token.
	post := func(token string) (int, string) {
		return postJSON(t, "http://"+addr+"/api/runs", token, fmt.Sprintf(`{"file": %q}`, filepath.Join(dir, "wf.yaml")))
	}
	if code, body := post(""); code != http.StatusUnauthorized || !strings.Contains(body, "token") {
		t.Errorf("no token: %d %s", code, body)
	}
	if code, body := post("wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d %s", code, body)
	}
	if code, body := post("tok-123"); code != http.StatusAccepted || !strings.Contains(body, "run_id") {
		t.Errorf("with token: %d %s", code, body)
	}
	r := paperflow(t, data, "run", filepath.Join(dir, "wf.yaml"), "--output", "json")
	if r.code != 0 {
		t.Fatalf("run via serve: exit %d\n%s\n%s\nserve: %s", r.code, r.stdout, r.stderr, serr.String())
	}
	if !strings.Contains(r.stdout, `"succeeded": 3`) {
		t.Errorf("summary: %s", r.stdout)
	}
}

// TestSeparateNATSServer runs a workflow against a nats-server started as
// its own process (Debian's nats-server package, installed by .ci/run).
func TestSeparateNATSServer(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Skip("nats-server is not installed (apt-get install nats-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv := exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-sd", t.TempDir())
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	waitFor(t, func() bool {
		nc, err := nats.Connect(url)
		if err != nil {
			return false
		}
		nc.Close()
		return true
	})
	dir := writeFiles(t, map[string]string{
		"items.csv": "First Name\nAda\nZoë\n",
		"wf.yaml":   "name: external\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: docs, uses: testblock, with: {emit: true}}\n",
	})
	r := paperflowNATS(t, url, "run", filepath.Join(dir, "wf.yaml"), "--output", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"succeeded": 2`) || !strings.Contains(r.stdout, `"DOCUMENTS_CREATED": 2`) {
		t.Fatalf("run against %s: exit %d\n%s\n%s", url, r.code, r.stdout, r.stderr)
	}
}

func TestEventsTailAndPlugins(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	dir := writeFiles(t, map[string]string{
		"items.csv": "Name\nAda\nZoë\n",
		"wf.yaml":   "name: tailed\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: docs, uses: testblock, with: {emit: true}}\n",
	})
	if r := paperflowNATS(t, ns.ClientURL(), "run", filepath.Join(dir, "wf.yaml")); r.code != 0 {
		t.Fatalf("run: %d %s %s", r.code, r.stdout, r.stderr)
	}
	cmd := exec.Command(filepath.Join(binDir, "paperflow"), "--nats", ns.ClientURL(), "events", "tail", "--all", "--json", "--type", "DOCUMENTS_CREATED")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	stop := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() }) // never hang the suite
	defer stop.Stop()
	sc := bufio.NewScanner(out)
	names := map[string]bool{}
	for len(names) < 2 && sc.Scan() {
		var env struct {
			EventType string `json:"eventType"`
			Data      struct {
				Documents []struct{ Name string } `json:"documents"`
			} `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &env); err != nil || env.EventType != "DOCUMENTS_CREATED" {
			t.Fatalf("tail printed %q (%v)", sc.Text(), err)
		}
		names[env.Data.Documents[0].Name] = true
	}
	if !names["Ada.pdf"] || !names["Zoë.pdf"] {
		t.Errorf("tail: %v", names)
	}

	if r := paperflowNATS(t, ns.ClientURL(), "runs"); !strings.Contains(r.stdout, "tailed") || !strings.Contains(r.stdout, "completed") {
		t.Errorf("runs: %s %s", r.stdout, r.stderr)
	}
	r := paperflow(t, t.TempDir(), "plugins")
	for _, want := range []string{"csv", "source", "testblock", "step", "DOCUMENTS_CREATED"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plugins output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestSignaturesCommands: a signature workflow run through serve, then
// its requests listed, its links printed and an invitation resent.
func TestSignaturesCommands(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	dir := writeFiles(t, map[string]string{
		"items.csv": "Name,Email\nAda,ada@example.com\n",
		"letter.md": "# Agreement for {{Name}}\n",
		"wf.yaml": `name: signing
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: letter, uses: template, with: {template: letter.md}}
  - id: sign
    uses: signature
    with:
      documents: [letter]
      recipients: [{email: "{{Email}}", name: "{{Name}}", order: 1}, {email: boss@example.com, order: 2}]
`,
	})
	addr, serr := serveEmbedded(t, data, filepath.Join(dir, "wf.yaml"))
	if r := paperflow(t, data, "run", filepath.Join(dir, "wf.yaml")); r.code != 0 || !strings.Contains(r.stdout, "SIGNATURES_REQUESTED   1") {
		t.Fatalf("run: %d %s %s\nserve: %s", r.code, r.stdout, r.stderr, serr.String())
	}
	r := paperflow(t, data, "signatures", "links")
	if n := strings.Count(r.stdout, "/blocks/signing/sign/sign/"); n != 2 {
		t.Errorf("links: want 2 signing links, got %d:\n%s%s", n, r.stdout, r.stderr)
	}
	r = paperflow(t, data, "signatures", "list", "--json")
	var reqs []struct {
		ID         string
		Status     string
		Recipients []struct{ Email, Status string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &reqs); err != nil || len(reqs) != 1 || reqs[0].Status != "pending" {
		t.Fatalf("list: %v %s %s", err, r.stdout, r.stderr)
	}
	if r := paperflow(t, data, "signatures", "list"); !strings.Contains(r.stdout, "ada@example.com(1):pending boss@example.com(2):pending") {
		t.Errorf("list: %s %s", r.stdout, r.stderr)
	}
	// The block's host-only routes are not reachable through serve's
	// public server.
	base := "http://" + addr + "/blocks/signing/sign/api/requests"
	for _, c := range []struct{ method, url, body string }{
		{http.MethodGet, base, ""},
		{http.MethodGet, base + "?run=x", ""},
		{http.MethodPost, base + "/" + reqs[0].ID + "/resend", `{"email": "ada@example.com"}`},
	} {
		req, _ := http.NewRequest(c.method, c.url, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if (resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden) || strings.Contains(string(page), reqs[0].ID) {
			t.Errorf("public %s %s: %d %s", c.method, c.url, resp.StatusCode, page)
		}
	}
	before, _ := mail.Outbox{Dir: filepath.Join(data, "outbox")}.Messages()
	if r := paperflow(t, data, "signatures", "resend", reqs[0].ID, "ada@example.com"); r.code != 0 {
		t.Fatalf("resend: %d %s %s", r.code, r.stdout, r.stderr)
	}
	waitFor(t, func() bool {
		after, _ := mail.Outbox{Dir: filepath.Join(data, "outbox")}.Messages()
		return len(after) == len(before)+1
	})
	if r := paperflow(t, data, "signatures", "resend", "nope", "ada@example.com"); r.code == 0 || !strings.Contains(r.stderr, "no signature request nope (see paperflow signatures list)") {
		t.Errorf("resend of an unknown request: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := paperflow(t, data, "signatures", "resend", reqs[0].ID, "eve@example.com"); r.code == 0 || !strings.Contains(r.stderr, "has no recipient eve@example.com") {
		t.Errorf("resend to a stranger: %d %s %s", r.code, r.stdout, r.stderr)
	}
}

// TestSecretsStayOutOfOutput: a secret resolved into a block's
// configuration and quoted back in the block's error reaches neither the
// JSON summary nor the log; an API token from the environment is not
// shown by --help.
func TestSecretsStayOutOfOutput(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-very-secret"
	dir := writeFiles(t, map[string]string{
		"items.csv": "Name,behaviour\nAda,echo\nBob,\n",
		"wf.yaml": `name: secretive
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: leaky, uses: testblock, with: {message: "key {{ .secrets.TOKEN }}"}}
`,
	})
	cmd := exec.Command(filepath.Join(binDir, "paperflow"), "--data-dir", t.TempDir(), "--log-level", "debug", "run", filepath.Join(dir, "wf.yaml"), "--output", "json")
	cmd.Env = append(os.Environ(), "PAPERFLOW_NATS_URL=", "PAPERFLOW_SECRET_TOKEN="+secret)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	if !strings.Contains(out.String(), `"failed": 1`) || !strings.Contains(out.String(), "[secret TOKEN]") {
		t.Fatalf("want one failed item whose error names the secret, got\n%s\n%s", out.String(), errb.String())
	}
	if strings.Contains(out.String()+errb.String(), secret) {
		t.Errorf("the secret's value is in the output:\n%s\n%s", out.String(), errb.String())
	}

	help := exec.Command(filepath.Join(binDir, "paperflow"), "serve", "--help")
	help.Env = append(os.Environ(), "PAPERFLOW_API_TOKEN="+secret, "PAPERFLOW_SMTP_URL=smtp://u:"+secret+"@127.0.0.1:25")
	text, _ := help.CombinedOutput()
	if strings.Contains(string(text), secret) {
		t.Errorf("--help shows a credential from the environment:\n%s", text)
	}
}
