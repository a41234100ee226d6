package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/events"
)

// fillEvents publishes n events into the embedded store in data.
func fillEvents(t *testing.T, data string, n int) {
	t.Helper()
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.EnsureStore(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := events.EnsureStream(ctx, b.JS, 1, 0); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := b.JS.PublishAsync("paperflow.events.backup.DOCUMENTS_CREATED", fmt.Appendf(nil, `{"eventId":"%048d"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-b.JS.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("publishes not acknowledged")
	}
}

// countEvents counts the distinct events kept in the embedded store in
// data.
func countEvents(t *testing.T, data string) int {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ids := map[string]bool{}
	for _, raw := range streamData(t, b.JS, events.StreamName, "paperflow.events.>") {
		ids[string(raw)] = true
	}
	return len(ids)
}

// TestBackupRestoreAfterACorruptBlock: `paperflow backup`, then 4 KB of
// garbage in the events stream's block file; `serve` says which stream
// lost how many events; `paperflow restore --force` brings every one back.
func TestBackupRestoreAfterACorruptBlock(t *testing.T) {
	t.Parallel()
	const n = 6000
	data, backup := t.TempDir(), filepath.Join(t.TempDir(), "backup")
	fillEvents(t, data, n)

	r := paperflow(t, data, "backup", backup, "--output", "json")
	if r.code != 0 {
		t.Fatalf("backup: exit %d\n%s", r.code, r.stderr)
	}
	var m struct {
		Streams []struct {
			Stream   string `json:"stream"`
			Messages uint64 `json:"messages"`
		} `json:"streams"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("backup --output json: %v\n%s", err, r.stdout)
	}
	got := map[string]uint64{}
	for _, s := range m.Streams {
		got[s.Stream] = s.Messages
	}
	for _, want := range []string{"PAPERFLOW_ITEMS", "KV_paperflow_host", "OBJ_paperflow_documents", events.StreamName} {
		if _, ok := got[want]; !ok {
			t.Errorf("backup lacks stream %s: %v", want, got)
		}
	}
	if got[events.StreamName] != n {
		t.Errorf("backup of %s has %d messages, want %d", events.StreamName, got[events.StreamName], n)
	}
	if !strings.Contains(r.stderr, "PAPERFLOW_EVENTS") {
		t.Errorf("no progress on stderr:\n%s", r.stderr)
	}

	blks, _ := filepath.Glob(filepath.Join(data, "nats", "jetstream", "*", "streams", events.StreamName, "msgs", "*.blk"))
	if len(blks) == 0 {
		t.Fatal("no block file of the events stream")
	}
	f, err := os.OpenFile(blks[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*13 + 1)
	}
	if _, err := f.WriteAt(garbage, fi.Size()/4); err != nil {
		t.Fatal(err)
	}
	f.Close()

	serveErr := serveBriefly(t, data)
	lost := regexp.MustCompile(`NATS stream PAPERFLOW_EVENTS lost (\d+) messages`).FindStringSubmatch(serveErr)
	if lost == nil || !strings.Contains(serveErr, "level=ERROR") || !strings.Contains(serveErr, "paperflow restore") {
		t.Fatalf("serve does not report the lost events at error with what to do:\n%s", serveErr)
	}
	left := countEvents(t, data)
	if lost[1] != fmt.Sprint(n-left) {
		t.Errorf("serve says %s events lost; %d of %d are left", lost[1], left, n)
	}

	r = paperflow(t, data, "restore", backup)
	if r.code == 0 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("restore over streams holding data without --force: exit %d, want a refusal naming --force\n%s", r.code, r.stderr)
	}
	r = paperflow(t, data, "restore", backup, "--force", "--output", "json")
	if r.code != 0 {
		t.Fatalf("restore --force: exit %d\n%s", r.code, r.stderr)
	}
	if got := countEvents(t, data); got != n {
		t.Errorf("%d events after the restore, want %d", got, n)
	}
}

// serveBriefly starts `paperflow serve` on data, stops it once it serves,
// and returns what it logged.
func serveBriefly(t *testing.T, data string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "paperflow"), "--data-dir", data, "--http", "127.0.0.1:0", "--plugins", filepath.Join(binDir, "plugins"), "serve")
	cmd.Env = append(os.Environ(), "PAPERFLOW_NATS_URL=")
	stderr, exited := startServeCmd(t, cmd)
	serveStarted(t, cmd, exited, stderr, data)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	return stderr.String()
}

// TestBackupSummaryCounts: backup's and restore's summaries for people
// count streams and messages in the singular for one.
func TestBackupSummaryCounts(t *testing.T) {
	t.Parallel()
	data, backup := t.TempDir(), filepath.Join(t.TempDir(), "backup")
	fillEvents(t, data, 1)
	r := paperflow(t, data, "backup", backup)
	if r.code != 0 || !regexp.MustCompile(`^backed up \d+ streams \(1 message\) to `+regexp.QuoteMeta(backup)+"\n$").MatchString(r.stdout) {
		t.Errorf("backup: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	r = paperflow(t, t.TempDir(), "restore", backup)
	if r.code != 0 || !regexp.MustCompile(`^restored \d+ streams \(1 message\) from `+regexp.QuoteMeta(backup)+"\n$").MatchString(r.stdout) {
		t.Errorf("restore: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
}
