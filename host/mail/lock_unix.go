//go:build unix

package mail

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on f, so processes sharing an outbox
// append whole records one at a time and none truncates another's.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
