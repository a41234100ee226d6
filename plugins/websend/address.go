package websend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
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
// subscriptions API uses it to refuse such URLs up front.
func CheckLiteral(host string, allowPrivate bool, allow []netip.Prefix) error {
	g := guard{allowAll: allowPrivate, allow: allow}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return g.check(netip.MustParseAddr("127.0.0.1"))
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return nil
	}
	return g.check(a)
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
