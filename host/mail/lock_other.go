//go:build !unix

package mail

import "os"

// lockFile does nothing here: without flock, one process at a time may
// write an outbox (the mutex orders the writers within it).
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}
