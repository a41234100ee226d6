package main

import (
	"net/http"
	"time"

	"github.com/paperflow/paperflow/plugins/ratelimit"
)

// Rate limits of the signing pages. A signing link carries 256 bits, so
// guessing one is hopeless; the limits are there so that a client that
// tries anyway, or hammers one link, costs little (every lookup is a KV
// read, every signature a PDF seal) and is told to wait with 429 Too Many
// Requests and Retry-After.
//
// The limits are kept in the memory of one block process: each host that
// serves the pages counts on its own, so with N hosts behind a load
// balancer a client gets up to N times as much, and a restarted block
// starts with full buckets.
const (
	// failedLookupBurst failed token lookups (unknown, malformed or wrong
	// kind of link) per client address, then one more every
	// failedLookupEvery. Expired or used links are real links and do not
	// count.
	failedLookupBurst = 20
	failedLookupEvery = 10 * time.Second

	// postBurst sign or decline POSTs per client address, then one more
	// every postEvery: enough for an office of signers behind one address.
	postBurst = 30
	postEvery = 2 * time.Second

	// tokenPostBurst POSTs per signing link, then one more every
	// tokenPostEvery: a signer who fixes a form a few times, or
	// double-clicks, stays well below it.
	tokenPostBurst = 10
	tokenPostEvery = 30 * time.Second

	// limiterKeys bounds each table of buckets, so that many distinct
	// addresses or links cannot grow the process's memory: the least
	// recently used bucket makes room for a new one. About 250 bytes a
	// key, so under 3 MB a table.
	limiterKeys = 10000
)

// signLimits are the buckets of one block process.
type signLimits struct {
	failures *ratelimit.Keyed // failed token lookups, per client address
	posts    *ratelimit.Keyed // sign and decline POSTs, per client address
	tokens   *ratelimit.Keyed // sign and decline POSTs, per link
}

func newSignLimits(maxKeys int) *signLimits {
	return &signLimits{
		failures: ratelimit.NewKeyed(failedLookupEvery, failedLookupBurst, maxKeys),
		posts:    ratelimit.NewKeyed(postEvery, postBurst, maxKeys),
		tokens:   ratelimit.NewKeyed(tokenPostEvery, tokenPostBurst, maxKeys),
	}
}

// limits returns the block's buckets.
func (b *Block) limits() *signLimits {
	b.limitsOnce.Do(func() {
		if b.rateLimits == nil {
			b.rateLimits = newSignLimits(limiterKeys)
		}
	})
	return b.rateLimits
}

func (b *Block) clock() time.Time {
	if b.now != nil {
		return b.now()
	}
	return time.Now()
}

// tooMany answers 429 with Retry-After (whole seconds, at least 1).
func (b *Block) tooMany(w http.ResponseWriter, wait time.Duration) {
	ratelimit.SetRetryAfter(w.Header(), wait)
	b.message(w, http.StatusTooManyRequests, "Too many attempts",
		"There were too many attempts from your network. Wait a minute, then open the link from your email again.")
}

// lookupAllowed says whether the client of r may look up a token now; if
// not, it has answered 429. Only failed lookups spend the client's tokens
// (lookupFailed), so a signer who opens a good link often is not limited.
func (b *Block) lookupAllowed(w http.ResponseWriter, r *http.Request) bool {
	ok, wait := b.limits().failures.Has(ratelimit.ClientKey(r), b.clock())
	if !ok {
		b.tooMany(w, wait)
	}
	return ok
}

// lookupFailed counts a failed token lookup against the client of r.
func (b *Block) lookupFailed(r *http.Request) {
	b.limits().failures.Take(ratelimit.ClientKey(r), b.clock())
}

// postAllowed spends one POST of the client of r; if there is none left,
// it has answered 429.
func (b *Block) postAllowed(w http.ResponseWriter, r *http.Request) bool {
	ok, wait := b.limits().posts.Take(ratelimit.ClientKey(r), b.clock())
	if !ok {
		b.tooMany(w, wait)
	}
	return ok
}

// tokenPostAllowed spends one POST of a signing link (keyed by the hash
// the KV keeps, so the table holds no usable token); if there is none
// left, it has answered 429.
func (b *Block) tokenPostAllowed(w http.ResponseWriter, token string) bool {
	ok, wait := b.limits().tokens.Take(tokenKey(token), b.clock())
	if !ok {
		b.tooMany(w, wait)
	}
	return ok
}
