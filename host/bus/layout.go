package bus

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Names of everything paperflow keeps in NATS. One place, so an operator
// can find them with `nats stream ls` and `nats kv ls`.
const (
	// ItemsStream is the work queue of source items, on
	// ItemsSubject(workflow, run). A message holds a chunk of a run's
	// source items (up to the run's batch size, as the engine's feed cuts
	// them) or a single item: a trigger's, a retry's, or one of a run
	// started before chunks.
	ItemsStream = "PAPERFLOW_ITEMS"
	// OutcomesStream records how each item ended, on OutcomesSubject(run).
	OutcomesStream = "PAPERFLOW_OUTCOMES"
	// SchedulesStream holds block callbacks that fall due later.
	SchedulesStream = "PAPERFLOW_SCHEDULES"
	// RunsBucket: one record per run (workflow, status, source progress).
	RunsBucket = "paperflow_runs"
	// CheckpointsBucket: one entry per (run, item, block) that finished.
	CheckpointsBucket = "paperflow_checkpoints"
	// StateBucket: block state written through Host.KV.
	StateBucket = "paperflow_state"
	// HostBucket: host-wide settings shared by every host (URL signing key).
	HostBucket = "paperflow_host"
	// DocumentsBucket: the object store of documents.
	DocumentsBucket = "paperflow_documents"
	// DocumentOriginsBucket: the workflow, run, item and block that made
	// each document, by document id (see host/documents/origin); kept as
	// long as documents are.
	DocumentOriginsBucket = "paperflow_document_origins"
	// WorkflowsBucket: deployed workflows: each name's current version,
	// its immutable versions and its history (see host/deploy).
	WorkflowsBucket = "paperflow_workflows"
	// WorkflowFilesBucket: the object store of deployed workflows' files,
	// by content hash; kept without expiry, as versions are.
	WorkflowFilesBucket = "paperflow_workflow_files"
)

// ItemsSubject is where the items of one run are queued.
func ItemsSubject(workflow, run string) string { return "paperflow.items." + workflow + "." + run }

// OutcomesSubject is where the outcomes of one run's items are recorded.
func OutcomesSubject(run string) string { return "paperflow.outcomes." + run }

// SchedulesSubject is where a block's scheduled callbacks wait.
func SchedulesSubject(workflow, block string) string {
	return "paperflow.schedules." + workflow + "." + block
}

// Store holds the handles of paperflow's streams, buckets and object store.
type Store struct {
	Items, Outcomes, Schedules jetstream.Stream
	Runs, Checkpoints, State   jetstream.KeyValue
	HostKV                     jetstream.KeyValue
	Documents                  jetstream.ObjectStore
	DocumentOrigins            jetstream.KeyValue
	Workflows                  jetstream.KeyValue
	WorkflowFiles              jetstream.ObjectStore
}

// Retention bounds what paperflow keeps; a run's data outlives its run by
// this much, so a resume or a late signer still finds it.
const Retention = 90 * 24 * time.Hour

// DuplicateWindow is how long NATS remembers a Nats-Msg-Id: a resumed run
// within it publishes no duplicate even when a block's checkpoint was lost
// in the crash.
const DuplicateWindow = time.Hour

// SmallBlocks is a per-subject message limit no subject of paperflow's
// reaches (2^40 messages), set on its limits streams written for every
// item that have no limit of their own (outcomes, the object stores).
// nats-server writes such a stream in 8 MiB blocks, and keeps the block
// being written, and the last ones read, in memory: with a per-subject
// limit it picks 4 MiB blocks, as for KV buckets, so each of those streams
// costs the host 4 MiB of heap less while it is written. The limit
// discards nothing. A server picks a stream's block size when it loads
// the stream, so on a store made by an earlier version the smaller blocks
// start with the next start of its server.
const SmallBlocks = 1 << 40

// EnsureStore creates (or updates) every stream and bucket, idempotently,
// so any host may start first, and several at once (see EnsureStream).
func (b *Bus) EnsureStore(ctx context.Context) (*Store, error) {
	s := &Store{}
	var err error
	streams := []struct {
		dst *jetstream.Stream
		cfg jetstream.StreamConfig
	}{
		{&s.Items, jetstream.StreamConfig{Name: ItemsStream, Subjects: []string{"paperflow.items.>"}, Retention: jetstream.WorkQueuePolicy, Duplicates: DuplicateWindow}},
		{&s.Outcomes, jetstream.StreamConfig{Name: OutcomesStream, Subjects: []string{"paperflow.outcomes.>"}, MaxAge: Retention, Duplicates: DuplicateWindow, MaxMsgsPerSubject: SmallBlocks}},
		{&s.Schedules, jetstream.StreamConfig{Name: SchedulesStream, Subjects: []string{"paperflow.schedules.>"}, Retention: jetstream.WorkQueuePolicy, Duplicates: DuplicateWindow}},
	}
	for _, st := range streams {
		st.cfg.Storage = jetstream.FileStorage
		st.cfg.Replicas = b.Replicas
		if *st.dst, err = EnsureStream(ctx, b.JS, st.cfg, b.log); err != nil {
			return nil, err
		}
	}
	buckets := []struct {
		dst *jetstream.KeyValue
		cfg jetstream.KeyValueConfig
	}{
		{&s.Runs, jetstream.KeyValueConfig{Bucket: RunsBucket, TTL: Retention}},
		{&s.Checkpoints, jetstream.KeyValueConfig{Bucket: CheckpointsBucket, TTL: Retention}},
		{&s.State, jetstream.KeyValueConfig{Bucket: StateBucket}},
		{&s.HostKV, jetstream.KeyValueConfig{Bucket: HostBucket}},
		{&s.Workflows, jetstream.KeyValueConfig{Bucket: WorkflowsBucket}},
		{&s.DocumentOrigins, jetstream.KeyValueConfig{Bucket: DocumentOriginsBucket, TTL: Retention}},
	}
	for _, bk := range buckets {
		if *bk.dst, err = b.KeyValue(ctx, bk.cfg); err != nil {
			return nil, err
		}
	}
	s.Documents, err = EnsureObjectStore(ctx, b.JS, jetstream.ObjectStoreConfig{
		Bucket: DocumentsBucket, Storage: jetstream.FileStorage, Replicas: b.Replicas, TTL: Retention,
	}, b.log)
	if err != nil {
		return nil, err
	}
	s.WorkflowFiles, err = EnsureObjectStore(ctx, b.JS, jetstream.ObjectStoreConfig{
		Bucket: WorkflowFilesBucket, Storage: jetstream.FileStorage, Replicas: b.Replicas,
	}, b.log)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// KeyValue makes (or opens) the bucket cfg describes, stored on file and
// replicated as the Store's buckets are, for the packages that keep a
// bucket of their own (idempotency keys, schedule firings).
func (b *Bus) KeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	cfg.Storage = jetstream.FileStorage
	cfg.Replicas = b.Replicas
	return EnsureKeyValue(ctx, b.JS, cfg, b.log)
}

// IsNotFound reports a missing KV key or stream message.
func IsNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrMsgNotFound) ||
		errors.Is(err, jetstream.ErrObjectNotFound)
}
