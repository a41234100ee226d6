package documents

import "time"

// SetNow sets the clock a Store signs and checks links with.
func SetNow(s *Store, now func() time.Time) { s.now = now }
