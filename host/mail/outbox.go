package mail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
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

// Outbox is the transport used when no SMTP server is configured: each
// message becomes an .eml file in Dir.
type Outbox struct {
	Dir string
	// MaxMessageBytes refuses larger messages, as a mail server would
	// (default DefaultMaxMessageBytes).
	MaxMessageBytes int64
}

// Send writes the message atomically (temp file, then rename). Messages
// carry signing links and documents, so the directory and the files are
// for the host's user only (0700, 0600).
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

// List returns the .eml files in the outbox, oldest first.
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
