package mail

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// Find returns the raw message the outbox holds for messageID (as
// EMAILS_CREATED reports it), the last one when it was sent again. Send
// names each file after a hash of the id, so no file is opened to look.
func (o Outbox) Find(messageID string) ([]byte, error) {
	sum := sha256.Sum256([]byte(messageID))
	matches, err := filepath.Glob(filepath.Join(o.Dir, "*-"+hex.EncodeToString(sum[:6])+".eml"))
	if err != nil {
		return nil, err
	}
	if len(matches) == 0 {
		return nil, fmt.Errorf("message %s: not in the outbox %s: %w", messageID, o.Dir, os.ErrNotExist)
	}
	return os.ReadFile(matches[len(matches)-1])
}
