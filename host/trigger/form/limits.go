package form

import (
	"container/list"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

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

// limiter is a token bucket per key, at most max of them, least recently
// used first out.
type limiter struct {
	every time.Duration
	burst int
	max   int

	mu   sync.Mutex
	keys map[string]*list.Element // of *bucket
	lru  list.List
}

type bucket struct {
	key string
	lim *rate.Limiter
}

func newLimiter(every time.Duration, burst, max int) *limiter {
	return &limiter{every: every, burst: burst, max: max, keys: map[string]*list.Element{}}
}

// take spends a token of key's bucket; when there is none it says how
// long until there is one.
func (l *limiter) take(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lim *rate.Limiter
	if e, ok := l.keys[key]; ok {
		l.lru.MoveToFront(e)
		lim = e.Value.(*bucket).lim
	} else {
		for l.lru.Len() >= l.max && l.lru.Len() > 0 {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.keys, old.Value.(*bucket).key)
		}
		lim = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.keys[key] = l.lru.PushFront(&bucket{key: key, lim: lim})
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - lim.TokensAt(now)
	return false, time.Duration(missing * float64(l.every))
}

// clientKey is the client address the limits count against.
//
// X-Forwarded-For is believed only as far as it was passed on by
// loopback, private or link-local addresses, taken to be the operator's
// proxies: walking the chain leftwards from the connection's address, the
// first address that is none of those is the client. IPv6 clients count
// per /64.
func clientKey(r *http.Request) string {
	remote := r.RemoteAddr
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
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

// fromProxy says whether the connection comes from the operator's side,
// whose forwarding headers are believed.
func fromProxy(r *http.Request) bool {
	remote := r.RemoteAddr
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	a := net.ParseIP(remote)
	return a != nil && proxyAddress(a)
}

// proxyAddress says whether a is on the operator's side: loopback,
// private (RFC 1918, fc00::/7), link-local or unspecified.
func proxyAddress(a net.IP) bool {
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified()
}
