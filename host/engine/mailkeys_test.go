package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

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
