//go:build !unix

package bus

import "os"

// tryLock does nothing here: without flock, keep to one paperflow process
// per data directory by hand (or run `paperflow serve` and let the others
// connect to it).
func tryLock(*os.File) error { return nil }
