package main

import (
	"container/list"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
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
	failures *keyedLimiter // failed token lookups, per client address
	posts    *keyedLimiter // sign and decline POSTs, per client address
	tokens   *keyedLimiter // sign and decline POSTs, per link
}

func newSignLimits(maxKeys int) *signLimits {
	return &signLimits{
		failures: newKeyedLimiter(rate.Every(failedLookupEvery), failedLookupBurst, maxKeys),
		posts:    newKeyedLimiter(rate.Every(postEvery), postBurst, maxKeys),
		tokens:   newKeyedLimiter(rate.Every(tokenPostEvery), tokenPostBurst, maxKeys),
	}
}

// keyedLimiter is a token bucket per key, at most max of them, least
// recently used first out. An evicted key starts again with a full
// bucket, which is also what it would have after being idle for a while.
type keyedLimiter struct {
	limit rate.Limit
	burst int
	max   int

	mu   sync.Mutex
	keys map[string]*list.Element // of *keyedBucket
	lru  list.List                // front: most recently used
}

type keyedBucket struct {
	key string
	lim *rate.Limiter
}

func newKeyedLimiter(limit rate.Limit, burst, max int) *keyedLimiter {
	return &keyedLimiter{limit: limit, burst: burst, max: max, keys: make(map[string]*list.Element)}
}

// bucket returns key's bucket, making it (and room for it) if needed.
func (k *keyedLimiter) bucket(key string) *rate.Limiter {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.keys[key]; ok {
		k.lru.MoveToFront(e)
		return e.Value.(*keyedBucket).lim
	}
	for k.lru.Len() >= k.max && k.lru.Len() > 0 {
		old := k.lru.Back()
		k.lru.Remove(old)
		delete(k.keys, old.Value.(*keyedBucket).key)
	}
	b := &keyedBucket{key: key, lim: rate.NewLimiter(k.limit, k.burst)}
	k.keys[key] = k.lru.PushFront(b)
	return b.lim
}

// take spends one token of key's bucket. When there is none it spends
// nothing and says how long until there is one.
func (k *keyedLimiter) take(key string, now time.Time) (bool, time.Duration) {
	lim := k.bucket(key)
	if lim.AllowN(now, 1) {
		return true, 0
	}
	return false, k.wait(lim, now)
}

// has says whether key's bucket holds a token, without spending it, and
// if not, how long until it does. A key without a bucket has a full one,
// and is not given one.
func (k *keyedLimiter) has(key string, now time.Time) (bool, time.Duration) {
	k.mu.Lock()
	e, ok := k.keys[key]
	k.mu.Unlock()
	if !ok {
		return true, 0
	}
	lim := e.Value.(*keyedBucket).lim
	if lim.TokensAt(now) >= 1 {
		return true, 0
	}
	return false, k.wait(lim, now)
}

func (k *keyedLimiter) wait(lim *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	return time.Duration(missing / float64(k.limit) * float64(time.Second))
}

// len is the number of buckets kept.
func (k *keyedLimiter) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
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
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	b.message(w, http.StatusTooManyRequests, "Too many attempts",
		"There were too many attempts from your network. Wait a minute, then open the link from your email again.")
}

// lookupAllowed says whether the client of r may look up a token now; if
// not, it has answered 429. Only failed lookups spend the client's tokens
// (lookupFailed), so a signer who opens a good link often is not limited.
func (b *Block) lookupAllowed(w http.ResponseWriter, r *http.Request) bool {
	ok, wait := b.limits().failures.has(limitKey(r), b.clock())
	if !ok {
		b.tooMany(w, wait)
	}
	return ok
}

// lookupFailed counts a failed token lookup against the client of r.
func (b *Block) lookupFailed(r *http.Request) {
	b.limits().failures.take(limitKey(r), b.clock())
}

// postAllowed spends one POST of the client of r; if there is none left,
// it has answered 429.
func (b *Block) postAllowed(w http.ResponseWriter, r *http.Request) bool {
	ok, wait := b.limits().posts.take(limitKey(r), b.clock())
	if !ok {
		b.tooMany(w, wait)
	}
	return ok
}

// tokenPostAllowed spends one POST of a signing link (keyed by the hash
// the KV keeps, so the table holds no usable token); if there is none
// left, it has answered 429.
func (b *Block) tokenPostAllowed(w http.ResponseWriter, token string) bool {
	ok, wait := b.limits().tokens.take(tokenKey(token), b.clock())
	if !ok {
		b.tooMany(w, wait)
	}
	return ok
}

// limitKey is the client address that the limits count against.
//
// X-Forwarded-For is believed only as far as it was passed on by
// loopback, private or link-local addresses, which are taken to be the
// operator's proxies: walking the chain from the connection's address
// leftwards, the first address that is none of those is the client.
// Entries further left are what the client itself sent and could be
// anything, so a client that writes its own X-Forwarded-For straight to a
// public host gains nothing. IPv6 clients are counted per /64, the
// smallest network one usually gets.
func limitKey(r *http.Request) string {
	_, remote := clientIP(r)
	addr := net.ParseIP(remote)
	if addr == nil {
		return remote
	}
	if proxyAddress(addr) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop := net.ParseIP(strings.TrimSpace(hops[i]))
			if hop == nil {
				break
			}
			addr = hop
			if !proxyAddress(hop) {
				break
			}
		}
	}
	if addr.To4() == nil {
		addr = addr.Mask(net.CIDRMask(64, 128))
	}
	return addr.String()
}

// proxyAddress says whether a is on the operator's side: loopback,
// private (RFC 1918, fc00::/7), link-local or unspecified.
func proxyAddress(a net.IP) bool {
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified()
}
