package form

import "time"

// Rate limits of the public forms, per client address. Every request (the
// page and each post) spends a token: enough for a person who opens a form
// and fixes it a few times, while a script that posts in a loop is told to
// wait with 429 Too Many Requests and Retry-After. The buckets live in one
// host's memory, so behind a load balancer over N hosts a client gets up
// to N times as much.
const (
	// DefaultBurst requests per client address, then one more every
	// DefaultEvery.
	DefaultBurst = 20
	DefaultEvery = 3 * time.Second
	// limiterKeys bounds the table of buckets; the least recently used
	// bucket makes room for a new one.
	limiterKeys = 10000
)
