package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// pluginDir holds the block binaries the tests build once.
var pluginDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "paperflow-server-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginDir = dir
	for name, pkg := range map[string]string{"csv": "../../plugins/csv", "pageblock": "./testdata/blocks/pageblock"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const workflowYAML = `name: served
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: page, uses: pageblock}
`

// testHost is a host started in this process on an embedded NATS in a
// temporary directory.
type testHost struct {
	srv  *Server
	bus  *bus.Bus
	eng  *engine.Engine
	dir  string
	file string
}

func startHost(t *testing.T, settings pluginhost.Settings) *testHost {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "served.yaml")
	if err := os.WriteFile(file, []byte(workflowYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "items.csv"), []byte("Name\nAda\nGrace\nLinus\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := bus.Open(ctx, bus.Options{DataDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(ctx, engine.Options{
		Bus: b, Plugins: pluginhost.Registry{Dir: pluginDir, Settings: settings}, PublicURL: "http://pages.example",
		Mail: mail.Outbox{Dir: filepath.Join(dir, "outbox")}, Log: log,
	})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	srv, err := New(Config{
		Bus: b, Engine: e, Files: []string{file}, HTTPAddr: "127.0.0.1:0", PublicURL: "http://pages.example",
		APIToken: "token", BlockSettings: settings, StateFile: StatePath(dir), Log: log,
	})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		b.Close()
		t.Fatal(err)
	}
	h := &testHost{srv: srv, bus: b, eng: e, dir: dir, file: file}
	t.Cleanup(h.close)
	return h
}

func (h *testHost) close() {
	_ = h.srv.Close()
	h.bus.Close()
}

func (h *testHost) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + h.srv.Addr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestRunHandedOverOnNATS: a run handed over the way `paperflow run` does
// is started by the host and completes.
func TestRunHandedOverOnNATS(t *testing.T) {
	h := startHost(t, pluginhost.Settings{})
	raw, _ := json.Marshal(StartRunRequest{File: h.file})
	msg, err := h.bus.NC.Request(StartRunSubject, raw, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var reply StartRunReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil || reply.Error != "" || reply.RunID == "" {
		t.Fatalf("reply %s (%v)", msg.Data, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec, err := h.eng.RunRecord(context.Background(), reply.RunID)
		if err == nil && rec.Status == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s not completed: %+v, %v", reply.RunID, rec, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sum, err := h.eng.Follow(context.Background(), reply.RunID, nil)
	if err != nil || sum.Items != 3 || sum.Failed != 0 {
		t.Fatalf("summary %+v, %v", sum, err)
	}

	raw, _ = json.Marshal(StartRunRequest{File: filepath.Join(h.dir, "missing.yaml")})
	msg, err = h.bus.NC.Request(StartRunSubject, raw, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(msg.Data, &reply); err != nil || reply.Error == "" {
		t.Fatalf("a file that does not load must be refused: %s", msg.Data)
	}
}

// TestHTTP: the host answers /readyz and serves the routes of the blocks
// of its workflows, configured with the host settings given in Configure;
// the State file says where it is.
func TestHTTP(t *testing.T) {
	settings := pluginhost.HostSettings("127.0.0.1/32", "seal.pem")
	h := startHost(t, settings)
	if code, body := h.get(t, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	code, body := h.get(t, "/blocks/served/page/settings")
	if code != http.StatusOK {
		t.Fatalf("block route: %d %s", code, body)
	}
	var got struct {
		Settings  map[string]string `json:"settings"`
		PublicURL string            `json:"public_url"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Settings[sdk.SettingWebhookAllow] != "127.0.0.1/32" || !filepath.IsAbs(got.Settings[sdk.SettingSigningCert]) || got.PublicURL != "http://pages.example" {
		t.Fatalf("the block was configured with %+v", got)
	}
	if code, _ := h.get(t, "/blocks/served/nope/settings"); code != http.StatusNotFound {
		t.Fatalf("unknown block: %d", code)
	}
	st, ok := ReadState(StatePath(h.dir))
	if !ok || st.HTTP != h.srv.Addr() || st.PID != os.Getpid() {
		t.Fatalf("state %+v %v", st, ok)
	}
}

// TestWorkflowSet: a workflow taken out of the served set answers 404 on
// its routes, and serves them again when it is added back.
func TestWorkflowSet(t *testing.T) {
	h := startHost(t, nil)
	if got := h.srv.Workflows(); len(got) != 1 || got[0] != "served" {
		t.Fatalf("served %v", got)
	}
	h.srv.workflows.remove("served")
	if code, _ := h.get(t, "/blocks/served/page/settings"); code != http.StatusNotFound {
		t.Fatalf("removed workflow's route: %d", code)
	}
	if h.srv.workflows.block("served", "page") != nil || len(h.srv.Workflows()) != 0 {
		t.Fatal("removed workflow still has blocks")
	}
	wf, problems := h.srv.loadWorkflow(h.file)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if err := h.srv.workflows.add(context.Background(), wf); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.workflows.add(context.Background(), wf); err != nil { // replaces
		t.Fatal(err)
	}
	if code, body := h.get(t, "/blocks/served/page/settings"); code != http.StatusOK {
		t.Fatalf("added again: %d %s", code, body)
	}
}

// TestCloseLeavesNothingBehind: after Close no goroutine of the host and
// no block process it started is left, and the State file is gone.
func TestCloseLeavesNothingBehind(t *testing.T) {
	h := startHost(t, nil)
	if code, _ := h.get(t, "/blocks/served/page/settings"); code != http.StatusOK {
		t.Fatal("block route not served")
	}
	h.close()
	if _, err := os.Stat(StatePath(h.dir)); !os.IsNotExist(err) {
		t.Fatalf("state file left: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		stacks, children := hostGoroutines(), blockProcesses(t)
		if stacks == "" && len(children) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: processes %v, goroutines:\n%s", children, stacks)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hostGoroutines returns the stacks of goroutines running code of the
// host's packages.
func hostGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "testing.") { // the tests themselves
			continue
		}
		for _, pkg := range []string{"/host/server.", "/host/delivery.", "/host/pluginhost.", "/host/engine.", "/host/httpapi."} {
			if strings.Contains(g, "paperflow"+pkg) {
				out = append(out, g)
				break
			}
		}
	}
	return strings.Join(out, "\n\n")
}

// blockProcesses lists the live child processes started from pluginDir.
func blockProcesses(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc to look for child processes in")
	}
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 || fields[0] == "Z" || fields[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && strings.HasPrefix(exe, pluginDir) {
			out = append(out, fmt.Sprintf("%d %s", pid, exe))
		}
	}
	return out
}
