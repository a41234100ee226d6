// Package ratelimit is the per-client rate limiting of paperflow's public
// pages: the host's forms and the signing pages of the signature block
// count requests the same way, by the same client address, and answer
// the same Retry-After.
//
// The buckets live in the memory of one process: with N hosts behind a
// load balancer a client gets up to N times as much, and a restarted
// process starts with full buckets.
package ratelimit

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

// Keyed is a token bucket per key (a client address, a link), at most
// max of them, least recently used first out, so that many distinct keys
// cannot grow the process's memory. An evicted key starts again with a
// full bucket, which is also what it would have after being idle for a
// while.
type Keyed struct {
	every time.Duration
	burst int
	max   int

	mu   sync.Mutex
	keys map[string]*list.Element // of *bucket
	lru  list.List                // front: most recently used
}

type bucket struct {
	key string
	lim *rate.Limiter
}

// NewKeyed gives each key burst tokens, then one more every every, and
// keeps at most max buckets.
func NewKeyed(every time.Duration, burst, max int) *Keyed {
	return &Keyed{every: every, burst: burst, max: max, keys: make(map[string]*list.Element)}
}

// bucket returns key's bucket, making it (and room for it) if needed.
func (k *Keyed) bucket(key string) *rate.Limiter {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.keys[key]; ok {
		k.lru.MoveToFront(e)
		return e.Value.(*bucket).lim
	}
	for k.lru.Len() >= k.max && k.lru.Len() > 0 {
		old := k.lru.Back()
		k.lru.Remove(old)
		delete(k.keys, old.Value.(*bucket).key)
	}
	b := &bucket{key: key, lim: rate.NewLimiter(rate.Every(k.every), k.burst)}
	k.keys[key] = k.lru.PushFront(b)
	return b.lim
}

// Take spends one token of key's bucket. When there is none it spends
// nothing and says how long until there is one.
func (k *Keyed) Take(key string, now time.Time) (bool, time.Duration) {
	lim := k.bucket(key)
	if lim.AllowN(now, 1) {
		return true, 0
	}
	return false, k.wait(lim, now)
}

// Has says whether key's bucket holds a token, without spending it, and
// if not, how long until it does: for limits that only failures spend. A
// key without a bucket has a full one, and is not given one.
func (k *Keyed) Has(key string, now time.Time) (bool, time.Duration) {
	k.mu.Lock()
	e, ok := k.keys[key]
	k.mu.Unlock()
	if !ok {
		return true, 0
	}
	lim := e.Value.(*bucket).lim
	if lim.TokensAt(now) >= 1 {
		return true, 0
	}
	return false, k.wait(lim, now)
}

func (k *Keyed) wait(lim *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	return time.Duration(missing * float64(k.every))
}

// Len is the number of buckets kept.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
}

// SetRetryAfter tells a limited client to wait, in whole seconds and at
// least one, for a 429 Too Many Requests answer.
func SetRetryAfter(h http.Header, wait time.Duration) {
	h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
}

// ClientKey is the client address that the limits count against:
// ClientIP, with IPv6 clients counted per /64, the smallest network one
// usually gets.
func ClientKey(r *http.Request) string {
	ip := ClientIP(r)
	addr := net.ParseIP(ip)
	if addr == nil {
		return ip
	}
	if addr.To4() == nil {
		addr = addr.Mask(net.CIDRMask(64, 128))
	}
	return addr.String()
}

// ClientIP is the client's address as the operator's proxies saw it: the
// connection's (without its port), or, when the connection comes from a
// proxy (FromProxy), the X-Forwarded-For entry of the proxy the client
// reached.
//
// X-Forwarded-For is believed only as far as it was passed on by
// loopback, private or link-local addresses, which are taken to be the
// operator's proxies: walking the chain from the connection's address
// leftwards, the first address that is none of those is the client (or
// the leftmost address, when every one is a proxy's; the walk stops at an
// entry that is not an address). Entries further left are what the
// client itself sent and could be anything, so a client that writes its
// own X-Forwarded-For straight to a public host gains nothing. A
// connection address that is not an IP address is returned as it is; ""
// when the request has none.
func ClientIP(r *http.Request) string {
	ip := remoteHost(r)
	addr := net.ParseIP(ip)
	if addr == nil || !proxyAddress(addr) {
		return ip
	}
	ip = addr.String()
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := net.ParseIP(strings.TrimSpace(hops[i]))
		if hop == nil {
			break
		}
		ip = hop.String()
		if !proxyAddress(hop) {
			break
		}
	}
	return ip
}

// FromProxy says whether the connection comes from the operator's side,
// whose forwarding headers are believed.
func FromProxy(r *http.Request) bool {
	a := net.ParseIP(remoteHost(r))
	return a != nil && proxyAddress(a)
}

// remoteHost is the connection's address without its port.
func remoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// proxyAddress says whether a is on the operator's side: loopback,
// private (RFC 1918, fc00::/7), link-local or unspecified.
func proxyAddress(a net.IP) bool {
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified()
}
