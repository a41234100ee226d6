package documents

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// chunkSize is the size of one chunk message, the object store's default.
const chunkSize = 128 << 10

// put writes one object in the object store's own layout (chunks on
// $O.<bucket>.C.<nuid>, then the object's info on $O.<bucket>.M.<name>,
// rolled up), so ObjectStore.Get, watches and backups read it as any
// other object.
//
// It does not call ObjectStore.Put: in nats.go v1.55.0 every Put makes a
// JetStream context of its own whose reconnect listener goroutine can
// start after Put has already removed the listener; it then waits on a
// nil channel for ever (about 1 Put in 100 on a busy host). Publishing on
// the host's long-lived context leaks nothing, and also spares the
// lookup of an earlier object of the same name (ids are new) and a
// subscription per document.
func (s *Store) put(ctx context.Context, meta jetstream.ObjectMeta, data []byte, sum [sha256.Size]byte) error {
	id := nuid.Next()
	chunks := "$O." + s.bucket + ".C." + id
	var futures []jetstream.PubAckFuture
	n := 0
	for off := 0; off < len(data); off += chunkSize {
		f, err := s.js.PublishMsgAsync(&nats.Msg{Subject: chunks, Data: data[off:min(off+chunkSize, len(data))]})
		if err != nil {
			s.purge(chunks)
			return err
		}
		futures = append(futures, f)
		n++
	}
	meta.Opts = &jetstream.ObjectMetaOptions{ChunkSize: chunkSize}
	info := jetstream.ObjectInfo{
		ObjectMeta: meta, Bucket: s.bucket, NUID: id, Size: uint64(len(data)), Chunks: uint32(n),
		Digest: "SHA-256=" + base64.URLEncoding.EncodeToString(sum[:]),
	}
	raw, err := json.Marshal(info)
	if err != nil {
		s.purge(chunks)
		return err
	}
	m := nats.NewMsg("$O." + s.bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(meta.Name)))
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	m.Data = raw
	// The info goes out once every chunk is stored: an object is never
	// seen before its content.
	if err := bus.WaitAcks(ctx, futures); err != nil {
		s.purge(chunks)
		return err
	}
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		s.purge(chunks)
		return err
	}
	return nil
}

// purge removes the chunks of an object whose info was not written.
func (s *Store) purge(chunks string) {
	ctx, cancel := context.WithTimeout(context.Background(), purgeTimeout)
	defer cancel()
	st, err := s.js.Stream(ctx, "OBJ_"+s.bucket)
	if err == nil {
		_ = st.Purge(ctx, jetstream.WithPurgeSubject(chunks))
	}
}

// purgeTimeout bounds cleaning up after a failed put.
const purgeTimeout = 10 * time.Second

// recentLimit bounds the bytes of documents kept after Put: a document
// is typically read back by the next step (an email attaching it) within
// the same batch, on the same host.
const recentLimit = 16 << 20

// recentDocs keeps the documents stored last until they are first read,
// so the next step's read costs no object store read. A document leaves
// once read: that one read is what the cache is for (in a 100,000-item
// run of Markdown letters emailed as attachments, every document is read
// once, after at most 8.9 MiB of later documents), and what the email
// step read stays out of the host's heap instead of filling recentLimit
// for ever. A later read (a download, a second step) takes the object
// store, as a document pushed out by recentLimit does.
type recentDocs struct {
	mu   sync.Mutex
	docs map[string]recentDoc
	// order is the ids in the order they were added; ids already read
	// stay in it until they reach the front.
	order []string
	bytes int
}

type recentDoc struct {
	doc  recentMeta
	data []byte
}

type recentMeta struct{ name, mimetype, sha string }

func (r *recentDocs) add(d sdk.Document, data []byte) {
	if len(data) > recentLimit/8 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.docs == nil {
		r.docs = map[string]recentDoc{}
	}
	r.docs[d.ID] = recentDoc{doc: recentMeta{d.Name, d.Mimetype, d.SHA256}, data: data}
	r.order = append(r.order, d.ID)
	r.bytes += len(data)
	for len(r.order) > 0 {
		old, kept := r.docs[r.order[0]]
		if kept && r.bytes <= recentLimit {
			break
		}
		if kept {
			r.bytes -= len(old.data)
			delete(r.docs, r.order[0])
		}
		r.order[0] = ""
		r.order = r.order[1:]
	}
	// A document never read (its item failed before the next step) holds
	// the front while the ids of documents read since pile up behind it:
	// drop those once they outnumber the documents kept.
	if len(r.order) > 2*len(r.docs)+64 {
		r.order = slices.DeleteFunc(r.order, func(id string) bool {
			_, kept := r.docs[id]
			return !kept
		})
	}
}

// take returns a document added and not read since, and forgets it.
func (r *recentDocs) take(id string) (sdk.Document, []byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.docs[id]
	if !ok {
		return sdk.Document{}, nil, false
	}
	delete(r.docs, id)
	r.bytes -= len(e.data)
	return sdk.Document{ID: id, Name: e.doc.name, Mimetype: e.doc.mimetype, Size: int64(len(e.data)), SHA256: e.doc.sha}, e.data, true
}
