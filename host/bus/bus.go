// Package bus connects paperflow to NATS: an embedded nats-server with
// JetStream in the data directory by default, or an external server or
// cluster by URL. Everything durable (items, checkpoints, documents, block
// state, events) lives in NATS, so several hosts on one cluster share work.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options says how to reach NATS.
type Options struct {
	// URL of an external NATS server or cluster (comma-separated). Empty
	// starts an embedded server storing JetStream data under DataDir.
	URL string
	// DataDir holds the embedded server's JetStream store.
	DataDir string
	// Listen makes the embedded server accept clients on this address
	// (e.g. "127.0.0.1:4222") so other processes (a second `paperflow run`,
	// a subscriber) can share it. Empty: in-process connections only.
	Listen string
	// Replicas for streams, KV buckets and the object store. 0 picks 3
	// when the server is part of a cluster of 3 or more nodes, else 1.
	Replicas int
	// Name identifies this connection in NATS monitoring.
	Name   string
	Logger *slog.Logger
}

// PublishAckTimeout bounds the wait for a JetStream ack of an async
// publish.
const PublishAckTimeout = 10 * time.Second

// Bus is a connection to NATS with JetStream, and the embedded server when
// there is one.
type Bus struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	Replicas int
	// ClientURL is where other processes can reach this NATS ("" when the
	// embedded server takes in-process connections only).
	ClientURL string
	server    *server.Server
	log       *slog.Logger
	// unlockStore releases the embedded store's lock (nil without one).
	unlockStore func()

	// dataDir is set for the embedded store, whose state paperflow
	// records (see checkStore).
	dataDir string
	record  storeRecord
	damage  []Damage
}

// Open connects to NATS, starting the embedded server when Options.URL is
// empty.
func Open(ctx context.Context, o Options) (*Bus, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	b := &Bus{Replicas: o.Replicas, log: log}
	name := o.Name
	if name == "" {
		name = "paperflow"
	}
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	url := o.URL
	if url == "" {
		srv, unlock, err := startEmbedded(o, log)
		if err != nil {
			return nil, err
		}
		b.server, b.unlockStore = srv, unlock
		if o.Listen != "" {
			b.ClientURL = srv.ClientURL()
		}
		opts = append(opts, nats.InProcessServer(srv))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("connect to NATS at %s: %w (is the server running? set --nats or PAPERFLOW_NATS_URL)", RedactURL(url), err)
	}
	b.NC = nc
	// An async publish whose ack never comes (the server that took it
	// died) fails after this, so the batch waiting on it is tried again
	// instead of waiting for ever.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(PublishAckTimeout))
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	b.JS = js
	if b.Replicas <= 0 {
		b.Replicas = 1
		if nc.ConnectedClusterName() != "" && len(nc.Servers()) >= 3 {
			b.Replicas = 3
		}
	}
	// A fresh cluster drops JetStream requests until it has a meta
	// leader: ask again until it answers.
	if _, err := withRetry(ctx, log, "JetStream account info", js.AccountInfo); err != nil {
		b.Close()
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
			return nil, fmt.Errorf("NATS at %s has JetStream disabled: start nats-server with -js", url)
		}
		return nil, fmt.Errorf("jetstream account info: %w", err)
	}
	dataDir := ""
	if b.server != nil {
		dataDir = o.DataDir
	}
	if err := b.checkStore(ctx, dataDir); err != nil {
		b.log.Warn("could not check the NATS store for lost messages", "err", err)
	}
	return b, nil
}

// RedactURL hides the passwords of a NATS URL list for messages.
func RedactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// startEmbedded starts the embedded server on the data directory's store,
// holding the store's lock; unlock releases it once the server is down.
func startEmbedded(o Options, log *slog.Logger) (srv *server.Server, unlock func(), err error) {
	if o.DataDir == "" {
		return nil, nil, errors.New("embedded NATS needs a data directory (--data-dir)")
	}
	store := filepath.Join(o.DataDir, "nats")
	if err := os.MkdirAll(store, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create NATS store %s: %w", store, err)
	}
	unlock, err = lockStore(store)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			unlock()
			unlock = nil
		}
	}()
	sopts := &server.Options{
		ServerName: "paperflow-embedded",
		JetStream:  true,
		StoreDir:   store,
		DontListen: o.Listen == "",
		NoSigs:     true,
		// Item and document batches are bigger than NATS's 1 MiB default.
		MaxPayload: 8 << 20,
	}
	if o.Listen != "" {
		host, port, err := splitHostPort(o.Listen)
		if err != nil {
			return nil, nil, err
		}
		if port == 0 {
			port = server.RANDOM_PORT // nats-server reads 0 as its default, 4222
		}
		sopts.Host, sopts.Port = host, port
	}
	srv, err = server.NewServer(sopts)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded NATS: %w", err)
	}
	// Before Start: recovering the store is where damage is found.
	srv.SetLoggerV2(serverLogger{log: log}, log.Enabled(context.Background(), slog.LevelDebug), false, false)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, nil, fmt.Errorf("embedded NATS did not start within 30s (store %s; is another paperflow using this data directory?)", store)
	}
	return srv, unlock, nil
}

func splitHostPort(addr string) (string, int, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", 0, fmt.Errorf("NATS listen address %q: want host:port", addr)
	}
	var port int
	if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil {
		return "", 0, fmt.Errorf("NATS listen address %q: bad port", addr)
	}
	return addr[:i], port, nil
}

// Embedded reports whether this bus runs its own NATS server.
func (b *Bus) Embedded() bool { return b.server != nil }

// Close drains the connection and stops the embedded server.
func (b *Bus) Close() {
	if b.NC != nil {
		_ = b.NC.Drain()
		b.NC.Close()
	}
	if b.server != nil {
		// After the drain: nothing of this process changes the streams
		// any more.
		b.recordClose()
		b.server.Shutdown()
		b.server.WaitForShutdown()
	}
	if b.unlockStore != nil {
		b.unlockStore()
		b.unlockStore = nil
	}
}
