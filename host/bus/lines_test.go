package bus_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
)

// linesBucket opens an embedded bus with a KV bucket of its own.
func linesBucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	kv, err := b.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "lines"})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// meddlingKV writes line to the entry, as another host would, between
// the appender's read of the entry and its first write.
type meddlingKV struct {
	jetstream.KeyValue
	line string
	done bool
}

func (m *meddlingKV) meddle(ctx context.Context, key string) error {
	if m.done || m.line == "" {
		return nil
	}
	m.done = true
	e, err := m.KeyValue.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		_, err = m.KeyValue.Create(ctx, key, []byte(m.line))
		return err
	}
	if err != nil {
		return err
	}
	_, err = m.KeyValue.Update(ctx, key, append(e.Value(), m.line...), e.Revision())
	return err
}

func (m *meddlingKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if err := m.meddle(ctx, key); err != nil {
		return 0, err
	}
	return m.KeyValue.Create(ctx, key, value, opts...)
}

func (m *meddlingKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := m.meddle(ctx, key); err != nil {
		return 0, err
	}
	return m.KeyValue.Update(ctx, key, value, rev)
}

func TestAppend(t *testing.T) {
	kv := linesBucket(t)
	tests := []struct {
		name      string
		before    string   // the entry before the append ("": none)
		meddle    string   // a line another host writes in between
		lines     []string // appended
		want      string   // the entry after it
		unwritten bool     // the entry is not written again
	}{
		{name: "new entry", lines: []string{"a\t1\n", "b\t2\n"}, want: "a\t1\nb\t2\n"},
		{name: "grows", before: "a\t1\n", lines: []string{"b\t2\n"}, want: "a\t1\nb\t2\n"},
		{name: "first value stays", before: "a\t1\n", lines: []string{"a\t9\n", "b\t2\n"}, want: "a\t1\nb\t2\n"},
		{name: "first of one call stays", lines: []string{"a\t1\n", "a\t2\n"}, want: "a\t1\n"},
		{name: "nothing new", before: "a\t1\nb\t2\n", lines: []string{"b\t3\n"}, want: "a\t1\nb\t2\n", unwritten: true},
		{name: "created meanwhile", meddle: "c\t3\n", lines: []string{"a\t1\n"}, want: "c\t3\na\t1\n"},
		{name: "updated meanwhile", before: "a\t1\n", meddle: "c\t3\n", lines: []string{"b\t2\n", "c\t9\n"}, want: "a\t1\nc\t3\nb\t2\n"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			key := fmt.Sprintf("g.%d", i)
			var rev uint64
			if tt.before != "" {
				var err error
				if rev, err = kv.Create(ctx, key, []byte(tt.before)); err != nil {
					t.Fatal(err)
				}
			}
			var a bus.Appender
			if err := a.Append(ctx, &meddlingKV{KeyValue: kv, line: tt.meddle}, key, tt.lines...); err != nil {
				t.Fatal(err)
			}
			e, err := kv.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(e.Value()); got != tt.want {
				t.Errorf("entry %q, want %q", got, tt.want)
			}
			if tt.unwritten && e.Revision() != rev {
				t.Errorf("entry written again (revision %d, was %d)", e.Revision(), rev)
			}
			if n := a.Pending(); n != 0 {
				t.Errorf("%d appends left behind", n)
			}
		})
	}
}

func TestAppendErrors(t *testing.T) {
	kv := linesBucket(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		key  string
	}{
		{name: "ctx ended", ctx: canceled, key: "g.x"},
		{name: "bad key", ctx: context.Background(), key: "g.*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a bus.Appender
			err := a.Append(tt.ctx, kv, tt.key, "a\t1\n")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q does not name the entry %s", err, tt.key)
			}
			if n := a.Pending(); n != 0 {
				t.Errorf("%d appends left behind", n)
			}
		})
	}
}

// TestAppendConcurrently: lines appended at once, through one Appender
// and through two (two hosts sharing a bucket), all end up in the entry,
// once each, with the first value for an id.
func TestAppendConcurrently(t *testing.T) {
	kv := linesBucket(t)
	ctx := context.Background()
	const ids, key = 40, "g.many"
	var hosts [2]bus.Appender
	var wg sync.WaitGroup
	for i := range 2 * ids {
		wg.Go(func() {
			h := &hosts[i%2]
			line := fmt.Sprintf("%d\t%d\n", i%ids, i/ids)
			if err := h.Append(ctx, kv, key, line); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	e, err := kv.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(e.Value()), "\n"); n != ids {
		t.Errorf("%d lines, want %d:\n%s", n, ids, e.Value())
	}
	for id := range ids {
		if _, ok := bus.FindLine(e.Value(), fmt.Sprint(id)); !ok {
			t.Errorf("id %d missing", id)
		}
	}
	for i := range hosts {
		if n := hosts[i].Pending(); n != 0 {
			t.Errorf("host %d: %d appends left behind", i, n)
		}
	}
}

func TestFindLine(t *testing.T) {
	rec := []byte("1\t<a@x>\n12\t<b@x>\n2\t<c@x>\nbroken\n")
	for _, tt := range []struct {
		id, want string
		ok       bool
	}{
		{"1", "<a@x>", true},
		{"12", "<b@x>", true},
		{"2", "<c@x>", true},
		{"3", "", false},
		{"broken", "", false},
		{"", "", false},
	} {
		if got, ok := bus.FindLine(rec, tt.id); string(got) != tt.want || ok != tt.ok {
			t.Errorf("id %q: %q %v, want %q %v", tt.id, got, ok, tt.want, tt.ok)
		}
	}
}

func TestWriteConflict(t *testing.T) {
	kv := linesBucket(t)
	ctx := context.Background()
	rev, err := kv.Create(ctx, "k", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	_, created := kv.Create(ctx, "k", []byte("w"))
	_, updated := kv.Update(ctx, "k", []byte("w"), rev+1)
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"create of an entry there", created, true},
		{"update of a stale revision", updated, true},
		{"wrapped", fmt.Errorf("write k: %w", created), true},
		{"other", errors.New("nats: timeout"), false},
		{"none", nil, false},
	} {
		if got := bus.WriteConflict(tt.err); got != tt.want {
			t.Errorf("%s (%v): %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// heldKV holds the first Get until release is closed, saying on entered
// that it is held: the write in progress while other calls join it.
type heldKV struct {
	jetstream.KeyValue
	once             sync.Once
	entered, release chan struct{}
}

func (h *heldKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	h.once.Do(func() {
		close(h.entered)
		<-h.release
	})
	return h.KeyValue.Get(ctx, key)
}

// TestAppendOutlivesTheWritersContext: the call that writes an entry for
// others gives up (its run interrupted); the lines that rode on its write
// are still stored, and the waiting call is not handed its error.
func TestAppendOutlivesTheWritersContext(t *testing.T) {
	kv := &heldKV{KeyValue: linesBucket(t), entered: make(chan struct{}), release: make(chan struct{})}
	var a bus.Appender
	writerCtx, cancel := context.WithCancel(context.Background())
	writer := make(chan error, 1)
	go func() { writer <- a.Append(writerCtx, kv, "g.held", "1\tfirst\n") }()
	<-kv.entered
	waiter := make(chan error, 1)
	go func() { waiter <- a.Append(context.Background(), kv, "g.held", "2\tsecond\n") }()
	for a.Joined("g.held") == 0 {
		runtime.Gosched() // until the second call waits on the held write
	}
	cancel()
	close(kv.release)
	if err := <-writer; err != nil {
		t.Errorf("writer: %v", err)
	}
	if err := <-waiter; err != nil {
		t.Errorf("waiter: %v", err)
	}
	e, err := kv.KeyValue.Get(context.Background(), "g.held")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"1", "2"} {
		if _, ok := bus.FindLine(e.Value(), id); !ok {
			t.Errorf("line %s missing from %q", id, e.Value())
		}
	}
}
