package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/plugins/sdk/retries"
)

// CreateTimeout bounds how long paperflow keeps trying to create one
// stream, bucket or object store. A fresh cluster may take a while to
// elect its JetStream meta leader, and several hosts starting at once all
// create the same things.
const CreateTimeout = 2 * time.Minute

// attemptTimeout bounds one JetStream API request: a request sent before
// the cluster has a meta leader is never answered, nor (on nats-server 2.9)
// are all but the first of several identical creates sent at once, so
// waiting longer gains nothing; the next attempt is answered once the
// cluster is up or the stream exists. The first attempts wait less.
const attemptTimeout = 5 * time.Second

func attemptDeadline(attempt int) time.Duration {
	return min(attemptTimeout, time.Second<<min(attempt-1, 8))
}

// EnsureStream creates the stream or updates it to cfg. An existing stream
// with the same configuration is success, so any number of hosts may call
// it at once. It tries again, with backoff, for up to CreateTimeout while
// NATS does not answer or its cluster is not ready, logging at info.
// log may be nil.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, log *slog.Logger) (jetstream.Stream, error) {
	return ensure(ctx, log, "stream", cfg.Name, func(ctx context.Context) (jetstream.Stream, error) {
		return js.CreateOrUpdateStream(ctx, cfg)
	})
}

// EnsureKeyValue is EnsureStream for a KV bucket.
func EnsureKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, log *slog.Logger) (jetstream.KeyValue, error) {
	return ensure(ctx, log, "kv", cfg.Bucket, func(ctx context.Context) (jetstream.KeyValue, error) {
		return js.CreateOrUpdateKeyValue(ctx, cfg)
	})
}

// EnsureObjectStore is EnsureStream for an object store. Its stream is
// the one the jetstream package makes for cfg (see objectStoreStream),
// with a per-subject limit that only makes its blocks smaller
// (SmallBlocks).
func EnsureObjectStore(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig, log *slog.Logger) (jetstream.ObjectStore, error) {
	scfg := objectStoreStream(cfg)
	scfg.MaxMsgsPerSubject = SmallBlocks
	return ensure(ctx, log, "object store", cfg.Bucket, func(ctx context.Context) (jetstream.ObjectStore, error) {
		if _, err := js.CreateOrUpdateStream(ctx, scfg); err != nil {
			return nil, err
		}
		return js.ObjectStore(ctx, cfg.Bucket)
	})
}

// objectStoreStream is the stream configuration
// jetstream.CreateOrUpdateObjectStore writes for cfg (nats.go v1.55.0),
// which cannot be given a per-subject limit; TestObjectStoreStream keeps
// the two the same.
func objectStoreStream(cfg jetstream.ObjectStoreConfig) jetstream.StreamConfig {
	replicas, maxBytes := cfg.Replicas, cfg.MaxBytes
	if replicas == 0 {
		replicas = 1
	}
	if maxBytes == 0 {
		maxBytes = -1
	}
	compression := jetstream.NoCompression
	if cfg.Compression {
		compression = jetstream.S2Compression
	}
	return jetstream.StreamConfig{
		Name:        "OBJ_" + cfg.Bucket,
		Description: cfg.Description,
		Subjects:    []string{"$O." + cfg.Bucket + ".C.>", "$O." + cfg.Bucket + ".M.>"},
		MaxAge:      cfg.TTL,
		MaxBytes:    maxBytes,
		Storage:     cfg.Storage,
		Replicas:    replicas,
		Placement:   cfg.Placement,
		Discard:     jetstream.DiscardNew,
		AllowRollup: true,
		AllowDirect: true,
		Metadata:    cfg.Metadata,
		Compression: compression,
	}
}

// ensure calls create until it succeeds, fails for good, or CreateTimeout
// passes.
func ensure[T any](ctx context.Context, log *slog.Logger, kind, name string, create func(context.Context) (T, error)) (T, error) {
	if log == nil {
		log = slog.Default()
	}
	v, err := withRetry(ctx, log, kind+" "+name, create)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	return v, nil
}

// settleRetry is how a JetStream request is tried again while the cluster
// settles: delays doubling from 200ms up to 5s, with 20% jitter, within
// CreateTimeout.
var settleRetry = retries.Policy{Initial: 200 * time.Millisecond, Multiplier: 2, Cap: 5 * time.Second, JitterPercent: 20}

// withRetry calls f with a short deadline per attempt, and again with
// backoff while the error is one a settling cluster gives.
func withRetry[T any](ctx context.Context, log *slog.Logger, what string, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, CreateTimeout)
	defer cancel()
	attempt := 0
	var last error
	v, err := retries.Value(ctx, settleRetry, func(ctx context.Context) (T, error) {
		attempt++
		actx, acancel := context.WithTimeout(ctx, attemptDeadline(attempt))
		defer acancel()
		v, err := f(actx)
		if err == nil {
			if attempt > 1 {
				log.Info("NATS answered", "what", what, "attempts", attempt)
			}
			return v, nil
		}
		last = err
		if ctx.Err() != nil || !temporary(err) {
			return v, retries.Permanent(err)
		}
		log.Info("NATS not ready; trying again", "what", what, "attempt", attempt, "err", err)
		return v, err
	})
	if err != nil && ctx.Err() != nil && last != nil {
		// Say what NATS last answered, not only that time ran out.
		err = fmt.Errorf("gave up after %d attempts: %w (is every NATS node up and does the cluster have a JetStream meta leader? `nats server report jetstream` shows it)", attempt, last)
	}
	return v, err
}

// temporary reports an error that a JetStream cluster still electing
// leaders, or a concurrent creator, can cause: trying again may succeed.
// Configuration errors (400) are final, except "name already in use",
// which a creator racing another with a default filled in can see.
func temporary(err error) bool {
	switch {
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrBadSubject),
		errors.Is(err, jetstream.ErrInvalidBucketName), errors.Is(err, jetstream.ErrInvalidStreamName),
		errors.Is(err, jetstream.ErrStreamNameRequired), errors.Is(err, jetstream.ErrHistoryTooLarge):
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrNoStreamResponse):
		return true
	}
	var jerr jetstream.JetStreamError
	if errors.As(err, &jerr) && jerr.APIError() != nil {
		api := jerr.APIError()
		return api.Code != 400 || api.ErrorCode == jetstream.JSErrCodeStreamNameInUse
	}
	// Not an answer from JetStream: a disconnect or a reconnect in progress.
	return true
}
