package mail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Transport sends a built message.
type Transport interface {
	Send(ctx context.Context, b *Built) error
}

// Outbox is the transport used when no SMTP server is configured: the
// messages are kept in Dir, either one .eml file each or, with Spool,
// appended to spool segments (see spool.go). Reading (Messages, Read,
// Find) sees both, so an outbox written one file per message stays
// readable after the host starts spooling into the same directory.
type Outbox struct {
	Dir string
	// MaxMessageBytes refuses larger messages, as a mail server would
	// (default DefaultMaxMessageBytes).
	MaxMessageBytes int64
	// Spool appends each message to a segment file instead of creating
	// a file for it, which costs far less kernel time per message, and
	// writes a Message-ID the outbox holds only once. Without it, each
	// message is an .eml file any mail client opens.
	Spool bool
	// SegmentBytes is the size at which a spool segment is sealed
	// (default DefaultSegmentBytes).
	SegmentBytes int64
	// Log receives what the spool repairs (a message cut short when the
	// host was killed mid-append) and the damaged records it skips;
	// default slog.Default().
	Log *slog.Logger
}

// Send keeps the message. It has reached the kernel when Send returns,
// so it survives the host being killed; the outbox is not fsynced, so a
// power cut can lose the last messages. An .eml file is written
// atomically (temp file, then rename); a spooled message is one record,
// and one cut short is dropped by the next writer. Messages carry signing
// links and documents, so the directory and the files are for the host's
// user only (0700, 0600).
func (o Outbox) Send(_ context.Context, b *Built) error {
	max := o.MaxMessageBytes
	if max <= 0 {
		max = DefaultMaxMessageBytes
	}
	if err := b.checkSize(max); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if o.Dir == "" {
		// Never the working directory: a host without a data directory
		// would scatter mail (signing links included) wherever it runs.
		return errors.New("outbox: no directory set (give --data-dir or --smtp)")
	}
	if o.Spool {
		s, err := spoolFor(o.Dir)
		if err != nil {
			return err
		}
		seg := o.SegmentBytes
		if seg <= 0 {
			seg = DefaultSegmentBytes
		}
		return s.append(b, o.log(), seg)
	}
	sum := sha256.Sum256([]byte(b.MessageID))
	name := time.Now().UTC().Format("20060102T150405.000000000") + "-" + hex.EncodeToString(sum[:6]) + ".eml"
	tmp := filepath.Join(o.Dir, "."+name+".tmp")
	err := os.WriteFile(tmp, b.Raw, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		// The first message (or the directory was removed): make it.
		if err := os.MkdirAll(o.Dir, 0o700); err != nil {
			return fmt.Errorf("outbox %s: %w", o.Dir, err)
		}
		err = os.WriteFile(tmp, b.Raw, 0o600)
	}
	if err != nil {
		return fmt.Errorf("outbox write: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(o.Dir, name)); err != nil {
		return fmt.Errorf("outbox write: %w", err)
	}
	return nil
}

func (o Outbox) log() *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	return slog.Default()
}

// Close releases the spool segment this process holds open for Dir
// (nothing to do for an outbox of .eml files). A later Send opens it again.
func (o Outbox) Close() error {
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil
	}
	if s, ok := spools.LoadAndDelete(abs); ok {
		return s.(*spool).close()
	}
	return nil
}

// List returns the .eml files in the outbox, oldest first; Messages
// lists spooled messages too.
func (o Outbox) List() ([]string, error) {
	entries, err := os.ReadDir(o.Dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".eml") && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(o.Dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}
