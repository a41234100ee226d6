package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// hostConfig says how to start the host.
type hostConfig struct {
	bin, plugins string
	dir          string // the temporary directory; data/ and serve.log go here
	smtpURL      string // empty: serve keeps its mail in its outbox
	workflow     string
	env          []string
}

// host is the `paperflow serve` child process under measurement.
type host struct {
	cfg      hostConfig
	cmd      *exec.Cmd
	pid      int
	httpAddr string
	token    string
	dataDir  string
	logPath  string
	log      *os.File
	exited   chan struct{}
	exitErr  error
}

// serveState is the part of <data-dir>/serve.json pfsoak reads: serve
// writes it once it listens, so it says both "ready" and where.
type serveState struct {
	HTTP string `json:"http"`
	PID  int    `json:"pid"`
}

// startHost starts serve and waits until it is ready. Its block processes
// are its children; the process group lets stop reach any of them that
// outlive it.
func startHost(ctx context.Context, cfg hostConfig) (*host, error) {
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	h := &host{cfg: cfg, token: hex.EncodeToString(tok), dataDir: filepath.Join(cfg.dir, "data"), logPath: filepath.Join(cfg.dir, "serve.log"), exited: make(chan struct{})}
	if err := os.MkdirAll(h.dataDir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(h.logPath)
	if err != nil {
		return nil, err
	}
	h.log = logf
	var mailArgs []string
	if cfg.smtpURL != "" {
		mailArgs = []string{"--smtp", cfg.smtpURL}
	}
	h.cmd = exec.Command(cfg.bin, h.args("serve", append(mailArgs, "--http", "127.0.0.1:0",
		"--webhook-allow", "127.0.0.1/32", "--api-token", h.token, cfg.workflow)...)...)
	h.cmd.Env = append(os.Environ(), cfg.env...)
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := h.cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, err
	}
	h.pid = h.cmd.Process.Pid
	go func() {
		h.exitErr = h.cmd.Wait()
		close(h.exited)
	}()
	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			h.stop()
			return nil, ctx.Err()
		case <-h.exited:
			return nil, fmt.Errorf("paperflow serve exited at start (%v):\n%s", h.exitErr, h.logTail(20))
		case <-deadline.C:
			h.stop()
			return nil, fmt.Errorf("paperflow serve not ready after 2m:\n%s", h.logTail(20))
		case <-tick.C:
		}
		raw, err := os.ReadFile(filepath.Join(h.dataDir, "serve.json"))
		if err != nil {
			continue
		}
		var st serveState
		if json.Unmarshal(raw, &st) == nil && st.PID == h.pid && st.HTTP != "" {
			h.httpAddr = st.HTTP
			return h, nil
		}
	}
}

// args puts the settings every paperflow command here shares in front of
// a subcommand's own.
func (h *host) args(sub string, rest ...string) []string {
	return append([]string{sub, "--data-dir", h.dataDir, "--plugins", h.cfg.plugins}, rest...)
}

// alive reports whether serve is still running.
func (h *host) alive() bool {
	select {
	case <-h.exited:
		return false
	default:
		return true
	}
}

// stop ends serve as an operator would (SIGTERM, so deliveries in flight
// finish and block processes are closed), and kills its process group
// when that takes too long.
func (h *host) stop() {
	if h.alive() {
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-h.pid, syscall.SIGKILL)
			<-h.exited
		}
	}
	_ = syscall.Kill(-h.pid, syscall.SIGKILL) // block processes that outlived serve, if any
	_ = h.log.Close()
}

// logTail is the end of serve's log, for error messages.
func (h *host) logTail(lines int) string {
	raw, err := os.ReadFile(h.logPath)
	if err != nil {
		return "(no serve.log: " + err.Error() + ")"
	}
	ls := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return "  " + strings.Join(ls, "\n  ")
}

// runSummary is `paperflow run --output json`.
type runSummary struct {
	RunID     string           `json:"run_id"`
	Items     int64            `json:"items"`
	Succeeded int64            `json:"succeeded"`
	Failed    int64            `json:"failed"`
	Events    map[string]int64 `json:"events"`
	Errors    []struct {
		Item  string `json:"item"`
		Block string `json:"block"`
		Error string `json:"error"`
	} `json:"errors"`
	Seconds float64 `json:"seconds"`
}

// runResult is how one handed run went.
type runResult struct {
	workflow string
	items    int
	sum      runSummary
	err      error
	took     time.Duration
}

// handRun hands a run of the workflow to serve with `paperflow run` on the
// same data directory, and follows it to the end as run does. run gets no
// --smtp: a run that was not handed over would send its mail to the
// outbox, and show up as missing emails (with -mail smtp).
func (h *host) handRun(ctx context.Context, wfPath string, items int) runResult {
	start := time.Now()
	res := runResult{workflow: wfPath, items: items}
	cmd := exec.CommandContext(ctx, h.cfg.bin, h.args("run", "--output", "json", wfPath)...)
	cmd.Env = append(os.Environ(), h.cfg.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res.took = time.Since(start)
	if jerr := json.Unmarshal(stdout.Bytes(), &res.sum); jerr != nil {
		// Exit code 1 with a summary only means failed items, which
		// the summary reports; without a summary the run itself broke.
		if err == nil {
			err = jerr
		}
		res.err = fmt.Errorf("paperflow run %s: %v: %s", filepath.Base(wfPath), err, strings.TrimSpace(stderr.String()))
		return res
	}
	return res
}
