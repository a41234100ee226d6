package bus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A backup is a directory with one JetStream snapshot per stream (KV
// buckets and the object store are streams too: KV_<bucket>,
// OBJ_<bucket>), taken with the server's own snapshot API, so a restore
// brings back messages, sequences and consumers exactly.
//
//	DIR/paperflow-backup.json          manifest: when, which streams, sizes, checksums
//	DIR/<stream>/backup.json           the stream's configuration and state
//	DIR/<stream>/stream.tar.s2         the snapshot as the server sent it

// ManifestName is the file that makes a directory a paperflow backup.
const ManifestName = "paperflow-backup.json"

// Manifest describes a backup.
type Manifest struct {
	Created time.Time        `json:"created"`
	Streams []StreamSnapshot `json:"streams"`
}

// StreamSnapshot is one stream in a backup (or restored from one).
type StreamSnapshot struct {
	Stream   string `json:"stream"`
	Messages uint64 `json:"messages"`
	LastSeq  uint64 `json:"last_seq"`
	Bytes    int64  `json:"bytes"` // size of the snapshot file
	SHA256   string `json:"sha256"`
}

// Progress receives one line per step for the person waiting.
type Progress func(format string, args ...any)

// snapshotMeta is what the server answers to a snapshot request, and
// what a restore request sends back: kept as raw JSON so no field the
// server knows and this client does not is lost.
type snapshotMeta struct {
	Config json.RawMessage `json:"config"`
	State  json.RawMessage `json:"state"`
}

type apiError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (code %d, error %d)", e.Description, e.Code, e.ErrCode)
}

// Backup writes a snapshot of every stream into dir (created if needed;
// an existing backup there is replaced stream by stream).
func (b *Bus) Backup(ctx context.Context, dir string, progress Progress) (*Manifest, error) {
	if progress == nil {
		progress = func(string, ...any) {}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create backup directory: %w", err)
	}
	var names []string
	l := b.JS.StreamNames(ctx)
	for n := range l.Name() {
		names = append(names, n)
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	sort.Strings(names)
	m := &Manifest{Created: time.Now().UTC()}
	for _, name := range names {
		s, err := b.snapshot(ctx, name, filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("back up stream %s: %w", name, err)
		}
		progress("backed up %s: %d messages, %d bytes", name, s.Messages, s.Bytes)
		m.Streams = append(m.Streams, s)
	}
	raw, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, ManifestName), raw, 0o600); err != nil {
		return nil, fmt.Errorf("write backup manifest: %w", err)
	}
	return m, nil
}

func (b *Bus) snapshot(ctx context.Context, stream, dir string) (StreamSnapshot, error) {
	out := StreamSnapshot{Stream: stream}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return out, err
	}
	inbox := b.NC.NewRespInbox()
	sub, err := b.NC.SubscribeSync(inbox)
	if err != nil {
		return out, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	_ = sub.SetPendingLimits(-1, -1)
	req, _ := json.Marshal(map[string]any{"deliver_subject": inbox, "jsck": true})
	var meta struct {
		snapshotMeta
		Error *apiError `json:"error"`
	}
	if err := b.apiRequest(ctx, "$JS.API.STREAM.SNAPSHOT."+stream, req, &meta); err != nil {
		return out, err
	}
	if meta.Error != nil {
		return out, meta.Error
	}
	var state jetstream.StreamState
	_ = json.Unmarshal(meta.State, &state)
	out.Messages, out.LastSeq = state.Msgs, state.LastSeq

	path := filepath.Join(dir, "stream.tar.s2")
	f, err := os.OpenFile(path+".tmp", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return out, err
	}
	defer f.Close()
	sum := sha256.New()
	w := io.MultiWriter(f, sum)
	for {
		// The server waits up to its ack timeout for flow control; a
		// chunk not coming for a minute means it gave up.
		msg, err := nextMsg(ctx, sub, time.Minute)
		if err != nil {
			return out, fmt.Errorf("receive snapshot: %w", err)
		}
		if len(msg.Data) == 0 {
			// The last message: empty, or a status (204 when all went well).
			if st := msg.Header.Get("Status"); st != "" && st != "204" {
				return out, fmt.Errorf("the server stopped the snapshot: %s %s", st, msg.Header.Get("Description"))
			}
			break
		}
		if _, err := w.Write(msg.Data); err != nil {
			return out, fmt.Errorf("write %s: %w", path, err)
		}
		out.Bytes += int64(len(msg.Data))
		if msg.Reply != "" {
			_ = msg.Respond(nil)
		}
	}
	if err := f.Sync(); err != nil {
		return out, err
	}
	if err := f.Close(); err != nil {
		return out, err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return out, err
	}
	out.SHA256 = hex.EncodeToString(sum.Sum(nil))
	raw, _ := json.MarshalIndent(meta.snapshotMeta, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "backup.json"), raw, 0o600); err != nil {
		return out, err
	}
	return out, nil
}

// ErrStreamNotEmpty: a restore would overwrite a stream that holds data.
var ErrStreamNotEmpty = errors.New("stream exists and is not empty")

// Restore brings back every stream of the backup in dir. A stream that
// exists is replaced only when it is empty, or when force is set (then it
// is deleted first, with whatever it held).
func (b *Bus) Restore(ctx context.Context, dir string, force bool, progress Progress) ([]StreamSnapshot, error) {
	if progress == nil {
		progress = func(string, ...any) {}
	}
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("%s is not a paperflow backup (take one with `paperflow backup DIR`): %w", dir, err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("backup manifest %s: %w", filepath.Join(dir, ManifestName), err)
	}
	// Check every stream before touching any.
	for _, s := range m.Streams {
		if err := verifySnapshot(filepath.Join(dir, s.Stream), s); err != nil {
			return nil, err
		}
		info, err := b.JS.Stream(ctx, s.Stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", s.Stream, err)
		}
		if n := info.CachedInfo().State.Msgs; n > 0 && !force {
			return nil, fmt.Errorf("%w: %s holds %d messages; restore with --force to delete it and put the backup's %d in its place",
				ErrStreamNotEmpty, s.Stream, n, s.Messages)
		}
	}
	var done []StreamSnapshot
	for _, s := range m.Streams {
		if err := b.JS.DeleteStream(ctx, s.Stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return done, fmt.Errorf("delete stream %s before restoring it: %w", s.Stream, err)
		}
		info, err := b.restore(ctx, filepath.Join(dir, s.Stream), s.Stream)
		if err != nil {
			return done, fmt.Errorf("restore stream %s: %w (the streams before it are restored; run the restore again with --force)", s.Stream, err)
		}
		b.forget(s.Stream)
		got := StreamSnapshot{Stream: s.Stream, Messages: info.State.Msgs, LastSeq: info.State.LastSeq, Bytes: s.Bytes, SHA256: s.SHA256}
		progress("restored %s: %d messages", s.Stream, got.Messages)
		done = append(done, got)
	}
	return done, nil
}

func verifySnapshot(dir string, s StreamSnapshot) error {
	f, err := os.Open(filepath.Join(dir, "stream.tar.s2"))
	if err != nil {
		return fmt.Errorf("backup of stream %s: %w", s.Stream, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("backup of stream %s: %w", s.Stream, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != s.SHA256 {
		return fmt.Errorf("backup of stream %s is damaged: checksum %s, the manifest says %s", s.Stream, got, s.SHA256)
	}
	return nil
}

func (b *Bus) restore(ctx context.Context, dir, stream string) (*jetstream.StreamInfo, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "backup.json"))
	if err != nil {
		return nil, err
	}
	var meta snapshotMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "backup.json"), err)
	}
	// A backup of a 3-node cluster restores onto one server, and back.
	var cfg map[string]any
	if err := json.Unmarshal(meta.Config, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "backup.json"), err)
	}
	cfg["num_replicas"] = b.Replicas
	meta.Config, _ = json.Marshal(cfg)

	req, _ := json.Marshal(meta)
	var resp struct {
		DeliverSubject string    `json:"deliver_subject"`
		Error          *apiError `json:"error"`
	}
	if err := b.apiRequest(ctx, "$JS.API.STREAM.RESTORE."+stream, req, &resp); err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	f, err := os.Open(filepath.Join(dir, "stream.tar.s2"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	chunk := make([]byte, 128<<10)
	for {
		n, rerr := io.ReadFull(f, chunk)
		if n > 0 {
			reply, err := b.request(ctx, resp.DeliverSubject, chunk[:n], time.Minute)
			if err != nil {
				return nil, fmt.Errorf("send snapshot chunk: %w", err)
			}
			if len(reply.Data) > 0 {
				var e struct {
					Error *apiError `json:"error"`
				}
				if json.Unmarshal(reply.Data, &e) == nil && e.Error != nil {
					return nil, e.Error
				}
			}
		}
		if rerr == io.EOF || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	// An empty message ends the upload; the answer comes once the server
	// has unpacked the stream.
	reply, err := b.request(ctx, resp.DeliverSubject, nil, 10*time.Minute)
	if err != nil {
		return nil, fmt.Errorf("finish restore: %w", err)
	}
	var done struct {
		Error *apiError `json:"error"`
	}
	if err := json.Unmarshal(reply.Data, &done); err != nil {
		return nil, fmt.Errorf("restore answer: %w", err)
	}
	if done.Error != nil {
		return nil, done.Error
	}
	var info jetstream.StreamInfo
	if err := json.Unmarshal(reply.Data, &info); err != nil {
		return nil, fmt.Errorf("restore answer: %w", err)
	}
	return &info, nil
}

// apiRequest sends a JetStream API request and decodes the answer.
func (b *Bus) apiRequest(ctx context.Context, subject string, req []byte, resp any) error {
	msg, err := b.request(ctx, subject, req, 30*time.Second)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("%s: no JetStream answers (is JetStream enabled?): %w", subject, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	return json.NewDecoder(bytes.NewReader(msg.Data)).Decode(resp)
}

// request is a NATS request that waits at most d.
func (b *Bus) request(ctx context.Context, subject string, data []byte, d time.Duration) (*nats.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return b.NC.RequestWithContext(ctx, subject, data)
}

func nextMsg(ctx context.Context, sub *nats.Subscription, d time.Duration) (*nats.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return sub.NextMsgWithContext(ctx)
}
