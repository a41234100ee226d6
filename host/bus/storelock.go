package bus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrStoreInUse means another process runs an embedded NATS on the same
// data directory. Two servers on one store corrupt it, so the second is
// refused instead.
var ErrStoreInUse = errors.New("data directory in use")

// errLocked is tryLock's answer when another process holds the lock.
var errLocked = errors.New("locked")

// lockStore takes an exclusive lock on the embedded NATS store, held until
// unlock (or until the process dies: the kernel drops the lock, so a
// killed paperflow never leaves a stale one). The lock file names the
// holder's pid for the error the next process gets.
func lockStore(store string) (unlock func(), err error) {
	path := filepath.Join(store, "paperflow.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open NATS store lock %s: %w", path, err)
	}
	if err := tryLock(f); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close()
		if errors.Is(err, errLocked) {
			pid := strings.TrimSpace(string(holder))
			if _, perr := strconv.Atoi(pid); perr != nil {
				pid = "unknown"
			}
			return nil, fmt.Errorf("%w: %s is used by another paperflow process (pid %s), and two NATS servers on one store corrupt it: wait for it to end, or start `paperflow serve` there (other commands then connect to it), or give this one another --data-dir",
				ErrStoreInUse, filepath.Dir(store), pid)
		}
		return nil, fmt.Errorf("lock NATS store %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { _ = f.Close() }, nil
}
