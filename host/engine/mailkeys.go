package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/mail"
)

// Where SendMail remembers the message sent for an idempotency key, in the
// state bucket.
//
// A key of the form "<run>/<item>/<block>" with a numeric item (the key
// the email block makes for a source's items) is kept with the keys of
// mailGroupSize neighbouring items in one record, mail.<run>.g.<hash>: a
// line "<item>\t<Message-ID>" each. NATS keeps an index entry per key of a
// bucket in memory, so a record per item made the host grow with every
// email of a run; a record per group does not. Any other key of that form
// is kept on its own under its run, mail.<run>.<hash>, as earlier
// versions kept every such key (and are still looked up); both go when
// the run is compacted. A key not tied to a run is kept under
// mail.unscoped.<hash>, for good. The mapping depends on the key alone,
// so every host and every attempt finds the same record.
const (
	mailKeyPrefix = "mail."
	unscopedMail  = "unscoped"
	mailGroupTag  = "g"
)

// mailGroupSize is how many neighbouring items share a mail record: few
// enough that rewriting a record as its items' emails go out stays cheap,
// many enough that the bucket holds one key where it held as many.
const mailGroupSize = 32

// mailKeys is the engine's view of the mail records: whether the state
// bucket still holds records in the layout earlier versions wrote, and
// the group records being appended to.
type mailKeys struct {
	once   sync.Once
	legacy bool

	mu sync.Mutex
	// single remembers, by run, whether the run has records of one key
	// each (mail.<run>.<hash>), which only earlier versions wrote for
	// grouped keys: only then does a miss in a group cost a second lookup.
	single map[string]bool
	// groups are the group records this engine is writing, with the
	// lines waiting for the write in progress.
	groups bus.Appender
}

// mailRecord says where the record of one idempotency key is kept.
type mailRecord struct {
	key    string // its own record: mail.<run>.<hash> or mail.unscoped.<hash>
	legacy string // the earlier layout's: mail.<hash>
	// group and item are set for a grouped key: its group record and
	// its item's id in it.
	group, item, run string
}

// mailRecordOf is where an idempotency key's record is kept.
func mailRecordOf(idempotencyKey string) mailRecord {
	sum := sha256.Sum256([]byte(idempotencyKey))
	hash := hex.EncodeToString(sum[:16])
	r := mailRecord{legacy: mailKeyPrefix + hash}
	scope := unscopedMail
	if run, rest, ok := strings.Cut(idempotencyKey, "/"); ok && strings.Count(rest, "/") == 1 && subjectToken(run) {
		scope = run
		item, block, _ := strings.Cut(rest, "/")
		if n, ok := itemNumber(item); ok && block != "" {
			g := sha256.Sum256([]byte(block + "/" + strconv.Itoa(n/mailGroupSize)))
			r.group = mailKeyPrefix + run + "." + mailGroupTag + "." + hex.EncodeToString(g[:8])
			r.item, r.run = item, run
		}
	}
	r.key = mailKeyPrefix + scope + "." + hash
	return r
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

// maxRunsRemembered bounds mailKeys.single; past it the answers are
// forgotten and asked again.
const maxRunsRemembered = 4096

// runHasSingles reports whether a run has records of one key each, asking
// NATS once per run and engine. A run started by this version has none;
// one resumed from an earlier version's may.
func (k *mailKeys) runHasSingles(ctx context.Context, js jetstream.JetStream, run string) bool {
	k.mu.Lock()
	has, known := k.single[run]
	k.mu.Unlock()
	if known {
		return has
	}
	has = true // when NATS cannot tell, look
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream, err := js.Stream(cctx, "KV_"+bus.StateBucket)
	if err != nil {
		return has
	}
	_, err = stream.GetLastMsgForSubject(cctx, "$KV."+bus.StateBucket+"."+mailKeyPrefix+run+".*")
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		has = false
	case err != nil:
		return has
	}
	k.mu.Lock()
	if k.single == nil || len(k.single) >= maxRunsRemembered {
		k.single = map[string]bool{}
	}
	k.single[run] = has
	k.mu.Unlock()
	return has
}

// sentMail returns the Message-ID recorded for an idempotency key. Only
// a record NATS reports missing counts as "not sent": any other failure
// to read one (a timeout, no responders while a stream elects its leader,
// as when the email step is redone after NATS trouble) is returned as an
// error, so SendMail sends nothing rather than send the message again.
func (e *Engine) sentMail(ctx context.Context, r mailRecord) (string, bool, error) {
	kv := e.opts.Store.State
	if r.group != "" {
		ent, err := lookupRecord(ctx, kv, r.group)
		if err != nil {
			return "", false, err
		}
		if ent != nil {
			if id, ok := groupLine(ent.Value(), r.item); ok {
				return id, true, nil
			}
		}
	}
	if r.group == "" || e.mailKeys.runHasSingles(ctx, e.opts.Bus.JS, r.run) {
		ent, err := lookupRecord(ctx, kv, r.key)
		if err != nil {
			return "", false, err
		}
		if ent != nil {
			return string(ent.Value()), true, nil
		}
	}
	if e.mailKeys.mayHaveLegacy(ctx, e.opts.Bus.JS) {
		ent, err := lookupRecord(ctx, kv, r.legacy)
		if err != nil {
			return "", false, err
		}
		if ent != nil {
			return string(ent.Value()), true, nil
		}
	}
	return "", false, nil
}

// lookupRecord reads a mail record: nil without an error when there is
// none.
func lookupRecord(ctx context.Context, kv jetstream.KeyValue, key string) (jetstream.KeyValueEntry, error) {
	ent, err := kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, nil
	case err != nil:
		return nil, &mailRecordError{key: key, err: err}
	}
	return ent, nil
}

// mailRecordError is a sent-mail record that could not be read: the
// message may have gone out already, so it is not sent now. Its text
// carries mail.TemporaryMarker, which is how a block (across the plugin
// boundary, where only the text arrives) tells an error worth retrying
// the item for later.
type mailRecordError struct {
	key string
	err error
}

func (e *mailRecordError) Error() string {
	return fmt.Sprintf("read sent-mail record %s: %v (%s: not sent, as it may have gone out already)", e.key, e.err, mail.TemporaryMarker)
}

func (e *mailRecordError) Unwrap() error { return e.err }

// Temporary reports that the send may succeed later, once the record can
// be read: the host tells a block so (gRPC Unavailable), and it retries
// the item.
func (e *mailRecordError) Temporary() bool { return true }

// storeSent writes the record of a sent message: a line in its group
// record, or a record of its own.
func (e *Engine) storeSent(ctx context.Context, r mailRecord, messageID string) error {
	if r.group == "" {
		_, err := e.opts.Store.State.Put(ctx, r.key, []byte(messageID))
		return err
	}
	return e.mailKeys.appendLine(ctx, e.opts.Store.State, r.group, r.item+"\t"+messageID+"\n")
}

// groupLine finds an item's line in a group record and returns its
// Message-ID.
func groupLine(rec []byte, item string) (string, bool) {
	id, ok := bus.FindLine(rec, item)
	return string(id), ok
}

// appendLine adds a line to a group record and returns once NATS has
// stored it. Lines of one group from concurrent sends of this engine are
// written together, one rewrite of the record for all of them; a write
// another host made in between is read back and kept (bus.Appender).
func (k *mailKeys) appendLine(ctx context.Context, kv jetstream.KeyValue, group, line string) error {
	return k.groups.Append(ctx, kv, group, line)
}

// purgeRunMail removes the mail records kept under a run.
func purgeRunMail(ctx context.Context, js jetstream.JetStream, runID string) error {
	stream, err := js.Stream(ctx, "KV_"+bus.StateBucket)
	if err != nil {
		return err
	}
	return stream.Purge(ctx, jetstream.WithPurgeSubject("$KV."+bus.StateBucket+"."+mailKeyPrefix+runID+".>"))
}
