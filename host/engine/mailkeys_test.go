package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// mailRecords lists the state keys under filter.
func mailRecords(t *testing.T, env *testEnv, filter string) []string {
	t.Helper()
	lister, err := env.engine.State().ListKeysFiltered(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	return keys
}

// TestCompactRemovesMailRecordsOfTheRun: the record of an email sent for
// a run's item is kept under the run and goes when the run is compacted;
// a record not tied to a run stays.
func TestCompactRemovesMailRecordsOfTheRun(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(o *engine.Options) { o.DetailRetention = time.Nanosecond })
	wf := env.load(t, `name: services
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: svc, uses: testblock}
`, "Name,behaviour\nAda,services\n", nil)
	ctx := context.Background()
	if _, err := env.engine.SendMail(ctx, sdk.Mail{To: []string{"bob@example.com"}, Subject: "Hi", Text: "Hi", IdempotencyKey: "not a run key"}); err != nil {
		t.Fatal(err)
	}
	sum, err := env.engine.Run(ctx, wf, engine.RunOptions{})
	if err != nil || sum.Succeeded != 1 {
		t.Fatalf("run: %+v, %v", sum, err)
	}
	if got := mailRecords(t, env, "mail."+sum.RunID+".>"); len(got) != 1 {
		t.Fatalf("mail records of the run before compaction: %v, want 1", got)
	}
	if n, err := env.engine.Compact(ctx); err != nil || n != 1 {
		t.Fatalf("compacted %d runs (%v), want 1", n, err)
	}
	if got := mailRecords(t, env, "mail."+sum.RunID+".>"); len(got) != 0 {
		t.Errorf("mail records of the run after compaction: %v", got)
	}
	if got := mailRecords(t, env, "mail.unscoped.>"); len(got) != 1 {
		t.Errorf("records not tied to a run after compaction: %v, want 1", got)
	}
}

// TestSendMailFindsRecordsOfEarlierVersions: a record an earlier version
// kept as mail.<hash> still stops a second send of the same key.
func TestSendMailFindsRecordsOfEarlierVersions(t *testing.T) {
	t.Parallel()
	outbox := mail.Outbox{Dir: filepath.Join(t.TempDir(), "outbox")}
	env := newEnv(t, func(o *engine.Options) { o.Mail = outbox })
	ctx := context.Background()
	key := "20250101-000000-0123abcd/7/mail"
	sum := sha256.Sum256([]byte(key))
	if _, err := env.engine.State().Put(ctx, "mail."+hex.EncodeToString(sum[:16]), []byte("<first@example.com>")); err != nil {
		t.Fatal(err)
	}
	id, err := env.engine.SendMail(ctx, sdk.Mail{To: []string{"ada@example.com"}, Subject: "Hi", Text: "Hi", IdempotencyKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if id != "<first@example.com>" {
		t.Errorf("Message-ID %s, want the recorded <first@example.com>", id)
	}
	if files, _ := outbox.List(); len(files) != 0 {
		t.Errorf("%d messages sent for a key an earlier version recorded", len(files))
	}
}

// countingTransport counts the messages handed to it.
type countingTransport struct {
	mu   sync.Mutex
	sent map[string]int // by Message-ID
}

func (c *countingTransport) Send(_ context.Context, b *mail.Built) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent == nil {
		c.sent = map[string]int{}
	}
	c.sent[b.MessageID]++
	return nil
}

func (c *countingTransport) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.sent {
		n += k
	}
	return n
}

// TestSendMailRedoOfABatchSendsNothing: the emails of a batch of items,
// sent a few at a time as the email block sends them, then sent again by
// a host started afresh on the same NATS (the redo after a crash before
// the batch's checkpoint), go out once each, and the redo returns the
// first Message-IDs. The records are one per group of items, not one per
// email.
func TestSendMailRedoOfABatchSendsNothing(t *testing.T) {
	t.Parallel()
	transport := &countingTransport{}
	env := newEnv(t, func(o *engine.Options) { o.Mail = transport })
	ctx := context.Background()
	const run, items = "20250101-000000-0123abcd", 70
	send := func(e *engine.Engine) []string {
		ids := make([]string, items)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for i := range items {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				id, err := e.SendMail(ctx, sdk.Mail{To: []string{"ada@example.com"}, Subject: "Hi", Text: "Hi", IdempotencyKey: fmt.Sprintf("%s/%d/mail", run, i+1)})
				if err != nil {
					t.Error(err)
				}
				ids[i] = id
			})
		}
		wg.Wait()
		return ids
	}
	first := send(env.engine)
	if n := transport.total(); n != items {
		t.Fatalf("%d messages sent for %d items", n, items)
	}
	if got := mailRecords(t, env, "mail."+run+".>"); len(got) > items/16 {
		t.Errorf("%d mail records for %d emails, want a few", len(got), items)
	}
	restarted, err := engine.New(ctx, engine.Options{Bus: env.bus, Store: env.engine.Store(), Mail: transport})
	if err != nil {
		t.Fatal(err)
	}
	again := send(restarted)
	if n := transport.total(); n != items {
		t.Errorf("the redo sent %d messages more", n-items)
	}
	for i := range first {
		if first[i] != again[i] {
			t.Errorf("item %d: redo returned %s, want %s", i+1, again[i], first[i])
		}
	}
}

// TestSendMailFindsRecordsOfOneKey: a record an earlier version kept on
// its own under the run (mail.<run>.<hash>) still stops a second send of
// an item whose key is now kept in a group record.
func TestSendMailFindsRecordsOfOneKey(t *testing.T) {
	t.Parallel()
	transport := &countingTransport{}
	env := newEnv(t, func(o *engine.Options) { o.Mail = transport })
	ctx := context.Background()
	const run = "20250101-000000-0123abcd"
	key := run + "/7/mail"
	sum := sha256.Sum256([]byte(key))
	if _, err := env.engine.State().Put(ctx, "mail."+run+"."+hex.EncodeToString(sum[:16]), []byte("<first@example.com>")); err != nil {
		t.Fatal(err)
	}
	id, err := env.engine.SendMail(ctx, sdk.Mail{To: []string{"ada@example.com"}, Subject: "Hi", Text: "Hi", IdempotencyKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if id != "<first@example.com>" {
		t.Errorf("Message-ID %s, want the recorded <first@example.com>", id)
	}
	if n := transport.total(); n != 0 {
		t.Errorf("%d messages sent for a key an earlier version recorded", n)
	}
	// The next item of the run, not recorded before, goes out.
	if _, err := env.engine.SendMail(ctx, sdk.Mail{To: []string{"ada@example.com"}, Subject: "Hi", Text: "Hi", IdempotencyKey: run + "/8/mail"}); err != nil {
		t.Fatal(err)
	}
	if n := transport.total(); n != 1 {
		t.Errorf("%d messages sent for a new key, want 1", n)
	}
}

// failingReads is a state bucket whose reads of the keys chosen by match
// fail while fail is set, as NATS answers while a stream elects its
// leader (the moment a batch is redone after NATS trouble).
type failingReads struct {
	jetstream.KeyValue
	match func(key string) bool
	fail  atomic.Bool
}

var errNoResponders = errors.New("nats: no responders available for request")

func (f *failingReads) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	if f.fail.Load() && f.match(key) {
		return nil, errNoResponders
	}
	return f.KeyValue.Get(ctx, key)
}

// TestSendMailRecordUnreadableSendsNothing: while a record that may say
// the message went out cannot be read, SendMail sends nothing and
// returns a temporary error (the block retries the item); once it can be
// read again, the message goes out once in all.
func TestSendMailRecordUnreadableSendsNothing(t *testing.T) {
	t.Parallel()
	const run = "20250101-000000-0123abcd"
	for _, tt := range []struct {
		name string
		key  string
		// sentBefore sends the key once before the reads fail: the redo
		// of an item whose email went out.
		sentBefore bool
		// legacy puts a record in the earlier layout (of another key)
		// in the bucket, so a miss is looked up there too.
		legacy  bool
		failing func(key string) bool
	}{
		{name: "group record on a redo", key: run + "/7/mail", sentBefore: true,
			failing: func(k string) bool { return strings.HasPrefix(k, "mail."+run+".g.") }},
		{name: "own record on a redo", key: "orders-web-20250101/ab12/notify", sentBefore: true,
			failing: func(k string) bool { return strings.HasPrefix(k, "mail.orders-web-20250101.") }},
		{name: "earlier layout's record", key: run + "/8/mail", legacy: true,
			failing: func(k string) bool { return strings.Count(k, ".") == 1 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			transport := &countingTransport{}
			env := newEnv(t, func(o *engine.Options) { o.Mail = transport })
			ctx := context.Background()
			if tt.legacy {
				if _, err := env.engine.State().Put(ctx, "mail.0123456789abcdef0123456789abcdef", []byte("<other@example.com>")); err != nil {
					t.Fatal(err)
				}
			}
			m := sdk.Mail{To: []string{"ada@example.com"}, Subject: "Hi", Text: "Hi", IdempotencyKey: tt.key}
			var first string
			if tt.sentBefore {
				id, err := env.engine.SendMail(ctx, m)
				if err != nil {
					t.Fatal(err)
				}
				first = id
			}
			sent := transport.total()
			store := *env.engine.Store()
			state := &failingReads{KeyValue: store.State, match: tt.failing}
			store.State = state
			e, err := engine.New(ctx, engine.Options{Bus: env.bus, Store: &store, Mail: transport})
			if err != nil {
				t.Fatal(err)
			}

			state.fail.Store(true)
			_, err = e.SendMail(ctx, m)
			if !errors.Is(err, errNoResponders) || !strings.Contains(err.Error(), mail.TemporaryMarker) || !mail.IsTransient(err) {
				t.Errorf("SendMail with the record unreadable: %v, want a temporary error", err)
			}
			if n := transport.total() - sent; n != 0 {
				t.Fatalf("%d messages sent while the record could not be read", n)
			}

			state.fail.Store(false)
			id, err := e.SendMail(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			if first != "" && id != first {
				t.Errorf("Message-ID %s, want the recorded %s", id, first)
			}
			if _, err := e.SendMail(ctx, m); err != nil {
				t.Fatal(err)
			}
			if n := transport.total(); n != 1 {
				t.Errorf("%d messages sent for one idempotency key, want 1", n)
			}
		})
	}
}
