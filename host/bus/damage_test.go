package bus_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
)

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func openEmbedded(t *testing.T, dir string) (*bus.Bus, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	b, err := bus.Open(context.Background(), bus.Options{DataDir: dir, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return b, logs
}

// corruptBlock writes 4 KB of garbage into the first block file of a
// stream of the embedded store in dataDir, a quarter of the way in.
func corruptBlock(t *testing.T, dataDir, stream string) {
	t.Helper()
	blks, _ := filepath.Glob(filepath.Join(dataDir, "nats", "jetstream", "*", "streams", stream, "msgs", "*.blk"))
	if len(blks) == 0 {
		t.Fatalf("no block file of %s under %s", stream, dataDir)
	}
	f, err := os.OpenFile(blks[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*7 + 3)
	}
	if _, err := f.WriteAt(garbage, fi.Size()/4); err != nil {
		t.Fatal(err)
	}
}

const eventsStream = "PAPERFLOW_EVENTS"

func publishEvents(t *testing.T, b *bus.Bus, n int) {
	t.Helper()
	ctx := context.Background()
	if _, err := bus.EnsureStream(ctx, b.JS, jetstream.StreamConfig{Name: eventsStream, Subjects: []string{"paperflow.events.>"}, Storage: jetstream.FileStorage}, nil); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := b.JS.PublishAsync("paperflow.events.test.DOCUMENTS_CREATED", fmt.Appendf(nil, `{"eventId":"%048d","eventType":"DOCUMENTS_CREATED","data":{"documents":[]}}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-b.JS.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("publishes not acknowledged")
	}
}

// distinctEvents reads the whole events stream and counts distinct
// payloads.
func distinctEvents(t *testing.T, b *bus.Bus) int {
	t.Helper()
	ctx := context.Background()
	cons, err := b.JS.OrderedConsumer(ctx, eventsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for {
		batch, err := cons.FetchNoWait(1000)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			seen[string(m.Data())] = true
		}
		if n == 0 {
			return len(seen)
		}
	}
}

// TestCorruptEventsBlockIsReported: a block file of the events stream is
// damaged while paperflow is stopped; the next start says loudly which
// stream lost how many messages and what to do, and the embedded
// server's own warnings reach the log.
func TestCorruptEventsBlockIsReported(t *testing.T) {
	t.Parallel()
	const events = 6000
	data := t.TempDir()
	b, _ := openEmbedded(t, data)
	publishEvents(t, b, events)
	b.Close()

	corruptBlock(t, data, eventsStream)
	b, logs := openEmbedded(t, data)
	defer b.Close()
	assertLossReported(t, b, logs, events)
}

// assertLossReported checks the log names the events stream with the
// number of messages it lost, and says to restore.
func assertLossReported(t *testing.T, b *bus.Bus, logs *logBuffer, had uint64) {
	t.Helper()
	info, err := b.JS.Stream(context.Background(), eventsStream)
	if err != nil {
		t.Fatal(err)
	}
	left := info.CachedInfo().State.Msgs
	if left >= had {
		t.Fatalf("the corruption lost nothing (%d messages left): the test needs another offset", left)
	}
	line := regexp.MustCompile(`level=ERROR msg=".*NATS stream PAPERFLOW_EVENTS lost (\d+) messages.*paperflow restore`).FindStringSubmatch(logs.String())
	if line == nil {
		t.Fatalf("no error naming %s and what to do; log:\n%s", eventsStream, logs)
	}
	if got, _ := strconv.ParseUint(line[1], 10, 64); got != had-left {
		t.Errorf("log says %s messages lost, %d are", line[1], had-left)
	}
	if !strings.Contains(logs.String(), "component=nats-server") {
		t.Errorf("the embedded server's own warnings do not reach the log:\n%s", logs)
	}
}

// TestCleanRestartReportsNothing: no false alarms from a store that was
// stopped and started again.
func TestCleanRestartReportsNothing(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	b, _ := openEmbedded(t, data)
	if _, err := b.EnsureStore(context.Background()); err != nil {
		t.Fatal(err)
	}
	publishEvents(t, b, 100)
	b.Close()
	b, logs := openEmbedded(t, data)
	defer b.Close()
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("damage reported after a clean restart:\n%s", logs)
	}
}
