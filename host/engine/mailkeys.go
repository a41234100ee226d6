package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
)

// Where SendMail remembers the message sent for an idempotency key, in the
// state bucket. A key of the form "<run>/<item>/<block>" (the one the email
// block makes) is kept under its run, mail.<run>.<hash>, so compacting the
// run removes it with the run's checkpoints; any other key is kept under
// mail.unscoped.<hash>, for good. The mapping depends on the key alone, so
// every host and every attempt finds the same record.
const (
	mailKeyPrefix = "mail."
	unscopedMail  = "unscoped"
)

// mailKeys remembers whether the state bucket still holds records in the
// layout earlier versions wrote (mail.<hash>), which SendMail then also
// looks up.
type mailKeys struct {
	once   sync.Once
	legacy bool
}

// mailKey is the state key of an idempotency key, and the earlier
// layout's.
func mailKey(idempotencyKey string) (key, legacy string) {
	sum := sha256.Sum256([]byte(idempotencyKey))
	hash := hex.EncodeToString(sum[:16])
	scope := unscopedMail
	if run, rest, ok := strings.Cut(idempotencyKey, "/"); ok && strings.Count(rest, "/") == 1 && subjectToken(run) {
		scope = run
	}
	return mailKeyPrefix + scope + "." + hash, mailKeyPrefix + hash
}

// subjectToken reports whether s can stand as one token of a NATS subject.
func subjectToken(s string) bool {
	return s != "" && s != unscopedMail && !strings.ContainsAny(s, ".*> \t\r\n")
}

// mayHaveLegacy reports whether records in the earlier layout may exist,
// asking NATS once per engine: only then does a miss cost a second lookup.
// A record older than bus.Retention no longer matters: no run that could
// redo its item is kept that long.
func (k *mailKeys) mayHaveLegacy(ctx context.Context, js jetstream.JetStream) bool {
	k.once.Do(func() {
		k.legacy = true // when NATS cannot tell, look
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		stream, err := js.Stream(cctx, "KV_"+bus.StateBucket)
		if err != nil {
			return
		}
		m, err := stream.GetLastMsgForSubject(cctx, "$KV."+bus.StateBucket+"."+mailKeyPrefix+"*")
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			k.legacy = false
		case err == nil:
			k.legacy = time.Since(m.Time) < bus.Retention
		}
	})
	return k.legacy
}

// sentMail returns the Message-ID recorded for an idempotency key.
func (e *Engine) sentMail(ctx context.Context, key, legacy string) (string, bool) {
	if ent, err := e.opts.Store.State.Get(ctx, key); err == nil {
		return string(ent.Value()), true
	}
	if e.mailKeys.mayHaveLegacy(ctx, e.opts.Bus.JS) {
		if ent, err := e.opts.Store.State.Get(ctx, legacy); err == nil {
			return string(ent.Value()), true
		}
	}
	return "", false
}

// purgeRunMail removes the mail records kept under a run.
func purgeRunMail(ctx context.Context, js jetstream.JetStream, runID string) error {
	stream, err := js.Stream(ctx, "KV_"+bus.StateBucket)
	if err != nil {
		return err
	}
	return stream.Purge(ctx, jetstream.WithPurgeSubject("$KV."+bus.StateBucket+"."+mailKeyPrefix+runID+".>"))
}
