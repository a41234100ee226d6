package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
)

// checkpointsStream is the stream under the checkpoints bucket.
const checkpointsStream = "KV_" + bus.CheckpointsBucket

// startNATSWithUsers starts a NATS server with JetStream on 127.0.0.1
// with two users: "full", who may do everything, and "blind", whose
// requests to make a consumer on the checkpoints stream go unanswered, as
// those of a host whose NATS node holding that consumer died do. It
// returns each user's URL.
func startNATSWithUsers(t *testing.T) (full, blind string) {
	t.Helper()
	deny := []string{
		"$JS.API.CONSUMER.CREATE." + checkpointsStream,
		"$JS.API.CONSUMER.CREATE." + checkpointsStream + ".>",
		"$JS.API.CONSUMER.DURABLE.CREATE." + checkpointsStream + ".>",
	}
	opts := &server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: t.TempDir(), MaxPayload: 8 << 20,
		Users: []*server.User{
			{Username: "full", Password: "full"},
			{Username: "blind", Password: "blind", Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: deny},
			}},
		},
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("NATS did not start")
	}
	t.Cleanup(srv.Shutdown)
	addr := srv.Addr().String()
	return "nats://full:full@" + addr, "nats://blind:blind@" + addr
}

// newHost is a host's engine on its own connection to NATS.
func newHost(t *testing.T, url string) *engine.Engine {
	t.Helper()
	e, _ := newHostOn(t, url)
	return e
}

// newHostOn is newHost, its options adjusted by tweaks, with its
// connection to NATS (closing it is the host dying, as far as NATS can
// tell).
func newHostOn(t *testing.T, url string, tweaks ...func(*engine.Options)) (*engine.Engine, *bus.Bus) {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Options{URL: url, Logger: hosttest.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	opts := engine.Options{
		Bus: b, Plugins: pluginhost.Registry{Dir: hosttest.PluginDir(t, "csv", "testblock")}, PublicURL: "http://127.0.0.1:8080",
		Mail: mail.Outbox{Dir: t.TempDir()}, Log: hosttest.Logger(t, slog.LevelWarn),
		ItemTimeout: 2 * time.Second, BatchSize: 2, Workers: 4, RetryDelay: 20 * time.Millisecond,
	}
	for _, tw := range tweaks {
		tw(&opts)
	}
	e, err := engine.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, b
}

// TestAHostThatCannotReadCheckpointsHandsItsItemsBack: a resumed run,
// whose every batch reads its items' checkpoints first, is taken by a
// host whose checkpoint reads get no answer (the NATS node of its
// checkpoint consumer died); a second host joins. The first host's
// batches fail and go back to the queue, and the second host completes
// the run, which ends on both. (Before, the first read waited for ever
// for its consumer to be made, the host's other workers waited behind
// it, and their items, kept in progress by heartbeats, never came back:
// the run stayed open.)
func TestAHostThatCannotReadCheckpointsHandsItsItemsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("two hosts on one NATS")
	}
	t.Parallel()
	const items = 40
	fullURL, blindURL := startNATSWithUsers(t)
	good, blind := newHost(t, fullURL), newHost(t, blindURL)
	var csv strings.Builder
	csv.WriteString("Name\n")
	for i := range items {
		fmt.Fprintf(&csv, "p%d\n", i)
	}
	wf := loadWorkflow(t, good.Catalog(), `name: blindspot
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: a, uses: testblock, with: {emit: true, sleep_ms: 20}}
  - {id: b, uses: testblock, with: {emit: true}}
`, csv.String())

	// Started and stopped at once: what follows is a resume.
	ctx, interrupt := context.WithCancel(context.Background())
	started := make(chan string, 1)
	first := make(chan error, 1)
	go func() {
		_, err := good.Run(ctx, wf, engine.RunOptions{Interruptible: true, OnStart: func(id string) { started <- id }})
		first <- err
	}()
	id := <-started
	interrupt()
	<-first

	// A run whose items are never all done does not end: the wait is
	// bounded.
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type result struct {
		sum *engine.Summary
		err error
	}
	resumed := make(chan result, 1)
	resumedAt := time.Now()
	go func() {
		sum, err := blind.Run(rctx, wf, engine.RunOptions{RunID: id})
		resumed <- result{sum, err}
	}()
	// The blind host takes items (from the resume's new items consumer)
	// before the other joins.
	for {
		var info *jetstream.ConsumerInfo
		cons, err := good.Store().Items.Consumer(rctx, "run-"+id)
		if err == nil {
			info, err = cons.Info(rctx)
		}
		if err == nil && info.Created.After(resumedAt) && info.Delivered.Consumer > 0 {
			break
		}
		if rctx.Err() != nil {
			t.Fatal("the blind host took no item")
		}
		time.Sleep(10 * time.Millisecond)
	}
	joined := make(chan result, 1)
	go func() {
		sum, err := good.Join(rctx, wf, id, engine.RunOptions{})
		joined <- result{sum, err}
	}()
	for name, ch := range map[string]chan result{"the blind host's resume": resumed, "the joined host": joined} {
		r := <-ch
		if r.err != nil {
			t.Fatalf("%s did not complete the run: %v (items taken by the blind host were never handed back)", name, r.err)
		}
		if r.sum.Items != items || r.sum.Succeeded != items {
			t.Errorf("%s's summary: %+v", name, r.sum)
		}
	}
}
