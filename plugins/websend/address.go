package websend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// AllowEnv names the environment variable with the host's allow-list: CIDRs
// or single addresses, separated by commas or spaces, that webhooks may
// reach even though they are private (e.g. "127.0.0.1/32,10.1.0.0/16").
const AllowEnv = "PAPERFLOW_WEBHOOK_ALLOW"

// ParseAllow parses an allow-list such as the value of AllowEnv.
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is neither a CIDR (10.0.0.0/8) nor an address", AllowEnv, f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// BlockedError is a refused destination address.
type BlockedError struct {
	Addr netip.Addr
	Kind string // "loopback", "private", …
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("refused to connect to %s address %s (a webhook block allows it with allow_private: true; the host with %s)", e.Kind, e.Addr, AllowEnv)
}

// special are ranges that are not plain public unicast, beyond what
// netip.Addr's own predicates cover.
var special = []struct {
	p    netip.Prefix
	kind string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("100.64.0.0/10"), "private"}, // carrier-grade NAT
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("fec0::/10"), "private"}, // deprecated site-local
	{netip.MustParsePrefix("100::/64"), "reserved"}, // discard
}

// addressKind says why an address is refused, or "" for a public one.
func addressKind(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "invalid"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "link-local"
	case a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, s := range special {
		if s.p.Contains(a) {
			return s.kind
		}
	}
	// IPv4 embedded in IPv6 translation prefixes reaches the IPv4 address.
	if a.Is6() {
		b := a.As16()
		if nat64.Contains(a) || nat64Local.Contains(a) {
			return addressKind(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		}
		if sixToFour.Contains(a) {
			return addressKind(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	return ""
}

var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour  = netip.MustParsePrefix("2002::/16")
)

// guard decides which addresses may be dialled.
type guard struct {
	allowAll bool
	allow    []netip.Prefix
}

// check returns a *BlockedError for a refused address.
func (g guard) check(a netip.Addr) error {
	a = a.Unmap()
	if g.allowAll {
		return nil
	}
	for _, p := range g.allow {
		if p.Contains(a) {
			return nil
		}
	}
	if kind := addressKind(a); kind != "" {
		return &BlockedError{Addr: a, Kind: kind}
	}
	return nil
}

// control is a net.Dialer Control function: it runs after the name was
// resolved, on the very address about to be connected, so a DNS answer that
// changes between a check and the connection (DNS rebinding) cannot slip a
// private address through.
func (g guard) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return errors.New("dial: not an IP address")
	}
	return g.check(a)
}

// CheckLiteral refuses a URL host that is a literal private address or
// "localhost" unless allowed; names are checked when dialled. The
// subscriptions API uses it to refuse such URLs up front. An IPv4 address
// written in another form than four decimal numbers (127.1, 2130706433,
// 0x7f.0.0.1, 0177.0.0.1) is refused: resolvers read these forms as
// addresses, so what is saved would not be what is checked.
func CheckLiteral(host string, allowPrivate bool, allow []netip.Prefix) error {
	g := guard{allowAll: allowPrivate, allow: allow}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return g.check(netip.MustParseAddr("127.0.0.1"))
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return g.check(a)
	}
	a, numeric, ok := parseIPv4Forms(name)
	switch {
	case !numeric:
		return nil // a name: checked when dialled
	case !ok:
		return fmt.Errorf("%q is not a valid IPv4 address (write four decimal numbers from 0 to 255, e.g. 192.0.2.10)", host)
	}
	if err := g.check(a); err != nil {
		return fmt.Errorf("%q is %s written another way: %w", host, a, err)
	}
	return fmt.Errorf("%q is the IPv4 address %s written another way; write it as %s", host, a, a)
}

// parseIPv4Forms reads host as the classic resolvers (inet_aton) read an
// IPv4 address: one to four parts, each decimal, octal (leading 0) or
// hexadecimal (0x), the last filling the remaining bytes. numeric says
// whether host has that shape at all (every part a number); ok whether its
// value is a valid address.
func parseIPv4Forms(host string) (a netip.Addr, numeric, ok bool) {
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		for _, p := range parts {
			if _, isNum := parseIPv4Part(p); !isNum {
				return netip.Addr{}, false, false
			}
		}
		return netip.Addr{}, true, false
	}
	vals := make([]uint64, len(parts))
	valid := true
	for i, p := range parts {
		v, isNum := parseIPv4Part(p)
		if !isNum {
			return netip.Addr{}, false, false
		}
		if v < 0 {
			valid = false
		}
		vals[i] = uint64(v)
	}
	if !valid {
		return netip.Addr{}, true, false
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, true, false
		}
		n |= v << (8 * (3 - i))
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, true, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true, true
}

// parseIPv4Part reads one part of an IPv4 address form: isNum says whether
// it looks like a number (digits, or 0x and hex digits); v is -1 when it
// does but its value is not one (an 8 or 9 in octal, too large).
func parseIPv4Part(p string) (v int64, isNum bool) {
	base, digits := 10, p
	switch {
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, digits = 16, p[2:]
	case len(p) > 1 && p[0] == '0':
		base, digits = 8, p[1:]
	}
	if p == "" {
		return 0, false
	}
	for _, c := range digits {
		if !(c >= '0' && c <= '9' || base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')) {
			return 0, false
		}
	}
	if digits == "" {
		return 0, true // "0x" reads as 0
	}
	n, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		return -1, true
	}
	return int64(n), true
}

// DialContext is a dial function for an http.Transport that refuses the
// addresses a webhook refuses (private, loopback, link-local… unless
// allowPrivate or in allow) on the address actually dialled. The http
// step block calls APIs under the same rules as webhooks.
func DialContext(allowPrivate bool, allow []netip.Prefix, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	g := guard{allowAll: allowPrivate, allow: allow}
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.control}
	return d.DialContext
}
