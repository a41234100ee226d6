package ratelimit

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestKeyedTakeAndHas(t *testing.T) {
	now := time.Unix(1000, 0)
	k := NewKeyed(10*time.Second, 2, 100)
	if ok, _ := k.Has("a", now); !ok || k.Len() != 0 {
		t.Fatalf("Has on a new key: %v, %d buckets; want true and none made", ok, k.Len())
	}
	for n := range 2 {
		if ok, _ := k.Take("a", now); !ok {
			t.Fatalf("take %d refused within the burst", n+1)
		}
	}
	ok, wait := k.Take("a", now)
	if ok || wait != 10*time.Second {
		t.Fatalf("over the burst: %v, wait %v; want refused, 10s", ok, wait)
	}
	if ok, wait := k.Has("a", now.Add(4*time.Second)); ok || wait != 6*time.Second {
		t.Fatalf("Has after 4s: %v, wait %v; want false, 6s", ok, wait)
	}
	if ok, _ := k.Take("a", now.Add(10*time.Second)); !ok {
		t.Fatal("no token after the refill")
	}
	if ok, _ := k.Take("b", now); !ok {
		t.Fatal("one key's use limited another")
	}
}

func TestKeyedMemoryIsBounded(t *testing.T) {
	const keys = 64
	k := NewKeyed(time.Second, 1, keys)
	now := time.Unix(1000, 0)
	for n := range 20 * keys {
		k.Take(fmt.Sprint(n), now)
	}
	k.mu.Lock()
	n, listed := len(k.keys), k.lru.Len()
	k.mu.Unlock()
	if n != keys || listed != n {
		t.Fatalf("%d buckets (list %d), want %d", n, listed, keys)
	}
	// The newest keys are counted, the oldest forgotten.
	if ok, _ := k.Take(fmt.Sprint(20*keys-1), now); ok {
		t.Error("the newest key was forgotten")
	}
	if ok, _ := k.Take("0", now); !ok {
		t.Error("the oldest key was kept")
	}
}

func TestClientKey(t *testing.T) {
	for _, c := range []struct {
		name, remote, xff, want string
	}{
		{"public peer, no header", "198.51.100.4:5000", "", "198.51.100.4"},
		{"public peer ignores what it sends", "198.51.100.4:5000", "203.0.113.1", "198.51.100.4"},
		{"proxy on loopback", "127.0.0.1:5000", "203.0.113.1", "203.0.113.1"},
		{"proxy keeps a forged entry on the left", "10.0.0.2:5000", "1.2.3.4, 203.0.113.1", "203.0.113.1"},
		{"only as far as the proxies go", "10.0.0.2:5000", "6.6.6.6, 198.51.100.1, 10.0.0.9", "198.51.100.1"},
		{"chain of private proxies", "127.0.0.1:5000", "203.0.113.1, 10.0.0.5, 192.168.1.1", "203.0.113.1"},
		{"everything private", "127.0.0.1:5000", "192.168.1.20", "192.168.1.20"},
		{"no header behind loopback", "127.0.0.1:5000", "", "127.0.0.1"},
		{"garbage stops the walk", "127.0.0.1:5000", "203.0.113.1, nonsense", "127.0.0.1"},
		{"IPv6 per /64", "[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::"},
		{"IPv6 behind a proxy", "[::1]:443", "2001:db8:aa:bb::1", "2001:db8:aa:bb::"},
	} {
		r := httptest.NewRequest("GET", "/x", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := ClientKey(r); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestFromProxy(t *testing.T) {
	for remote, want := range map[string]bool{
		"127.0.0.1:5000": true, "10.1.2.3:80": true, "[fe80::1]:80": true,
		"198.51.100.4:5000": false, "not an address": false,
	} {
		r := httptest.NewRequest("GET", "/x", nil)
		r.RemoteAddr = remote
		if got := FromProxy(r); got != want {
			t.Errorf("FromProxy(%s) = %v, want %v", remote, got, want)
		}
	}
}

func TestSetRetryAfter(t *testing.T) {
	for wait, want := range map[time.Duration]string{0: "1", 300 * time.Millisecond: "1", 2100 * time.Millisecond: "3"} {
		h := http.Header{}
		SetRetryAfter(h, wait)
		if got := h.Get("Retry-After"); got != want {
			t.Errorf("wait %v: Retry-After %s, want %s", wait, got, want)
		}
	}
}

// TestClientIP: the address the signing pages record and DOCUMENT_DOWNLOADED
// carries, read as ClientKey reads it but whole (no /64).
func TestClientIP(t *testing.T) {
	for _, c := range []struct {
		name, remote string
		xff          []string // one header line each
		want         string
	}{
		{"public peer, no header", "198.51.100.4:5000", nil, "198.51.100.4"},
		{"public peer ignores what it sends", "198.51.100.4:5000", []string{"203.0.113.1"}, "198.51.100.4"},
		{"proxy on loopback", "127.0.0.1:5000", []string{"203.0.113.1"}, "203.0.113.1"},
		{"proxy keeps a forged entry on the left", "10.0.0.2:5000", []string{"1.2.3.4, 203.0.113.1"}, "203.0.113.1"},
		{"only as far as the proxies go", "10.0.0.2:5000", []string{"6.6.6.6, 198.51.100.1, 10.0.0.9"}, "198.51.100.1"},
		{"header lines are one list", "127.0.0.1:5000", []string{"6.6.6.6", "198.51.100.1, 10.0.0.9"}, "198.51.100.1"},
		{"link-local proxy", "[fe80::1]:80", []string{"203.0.113.1"}, "203.0.113.1"},
		{"everything private", "127.0.0.1:5000", []string{"192.168.1.20"}, "192.168.1.20"},
		{"no header behind loopback", "127.0.0.1:5000", nil, "127.0.0.1"},
		{"garbage stops the walk", "127.0.0.1:5000", []string{"203.0.113.1, nonsense"}, "127.0.0.1"},
		{"IPv6 whole", "[2001:db8:1:2:3:4:5:6]:443", nil, "2001:db8:1:2:3:4:5:6"},
		{"IPv6 behind a proxy, whole", "[::1]:443", []string{"2001:db8:aa:bb::1"}, "2001:db8:aa:bb::1"},
		{"not an IP address", "pipe", []string{"203.0.113.1"}, "pipe"},
		{"no address", "", nil, ""},
	} {
		r := httptest.NewRequest("GET", "/x", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := ClientIP(r); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
