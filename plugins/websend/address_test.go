package websend

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestCheckLiteralForms: IPv4 addresses written as resolvers read them
// (short, decimal, octal, hexadecimal) are refused, as the address they
// stand for when it is not allowed and asking for the usual form when it
// is; names are left to the dialler.
func TestCheckLiteralForms(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	for _, c := range []struct {
		host    string
		blocked string // the address refused, or ""
		want    string // "" accepted
	}{
		{"example.com", "", ""},
		{"123.example", "", ""},
		{"0x7f.example", "", ""},
		{"127.0.0.1", "", ""},
		{"203.0.113.9", "", ""},
		{"::ffff:127.0.0.1", "", ""},
		{"localhost.", "", ""},
		{"127.1", "", "write it as 127.0.0.1"},
		{"127.0.1", "", "write it as 127.0.0.1"},
		{"2130706433", "", "write it as 127.0.0.1"},
		{"0x7F000001", "", "write it as 127.0.0.1"},
		{"017700000001", "", "write it as 127.0.0.1"},
		{"127.0.0.1.", "", "write it as 127.0.0.1"},
		{"203.0.113.09", "", "not a valid IPv4 address"},
		{"3405803785", "", "write it as 203.0.113.9"},
		{"0", "0.0.0.0", ""},
		{"10.1", "10.0.0.1", ""},
		{"0xa9fea9fe", "169.254.169.254", ""},
		{"::ffff:a00:1", "10.0.0.1", ""},
		{"256.0.0.1", "", "not a valid IPv4 address"},
		{"1.1.256", "", "write it as 1.1.1.0"}, // the last part fills two bytes
		{"1.256.1", "", "not a valid IPv4 address"},
		{"1.65536.1", "", "not a valid IPv4 address"},
		{"1.2.3.4.5", "", "not a valid IPv4 address"},
		{"4294967296", "", "not a valid IPv4 address"},
	} {
		err := CheckLiteral(c.host, false, allow)
		var be *BlockedError
		switch {
		case c.blocked != "":
			if !errors.As(err, &be) || be.Addr.String() != c.blocked {
				t.Errorf("%s: got %v, want %s refused", c.host, err, c.blocked)
			}
		case c.want == "":
			if err != nil {
				t.Errorf("%s: %v", c.host, err)
			}
		case err == nil || !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: got %v, want %q", c.host, err, c.want)
		}
	}
}
