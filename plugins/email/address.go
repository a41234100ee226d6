package main

import (
	"fmt"
	"net/mail"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// parseAddresses reads the addresses of one `with:` field for an item.
// Each entry may hold one address or a comma-separated list; an entry that
// is empty for this item (an empty cc column) is left out. Every address
// is checked as strictly as the EMAILS_CREATED schema's "email" format, so
// an item never sends a message whose event would then be refused.
func parseAddresses(field string, entries []string) ([]*mail.Address, error) {
	var out []*mail.Address
	for _, e := range entries {
		if strings.TrimSpace(e) == "" {
			continue
		}
		if strings.ContainsAny(e, "\r\n") {
			return nil, fmt.Errorf("%s: %q contains a line break (header injection refused)", field, e)
		}
		list, err := mail.ParseAddressList(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a valid email address (%v); write name@example.com or Name <name@example.com>", field, e, err)
		}
		for _, a := range list {
			if err := normalize(a); err != nil {
				return nil, fmt.Errorf("%s: %q: %v", field, a.Address, err)
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// parseAddress reads a field that holds at most one address (from,
// reply_to); nil when it is empty.
func parseAddress(field, v string) (*mail.Address, error) {
	l, err := parseAddresses(field, []string{v})
	if err != nil {
		return nil, err
	}
	switch len(l) {
	case 0:
		return nil, nil
	case 1:
		return l[0], nil
	}
	return nil, fmt.Errorf("%s: %q holds %d addresses; give one", field, v, len(l))
}

// normalize checks a's address and writes an internationalised domain in
// its ASCII (punycode) form, which every mail server accepts.
func normalize(a *mail.Address) error {
	at := strings.LastIndexByte(a.Address, '@')
	local, domain := a.Address[:at], a.Address[at+1:] // ParseAddress guarantees the @
	if len(local) > 64 {
		return fmt.Errorf("the part before @ is %d characters long; at most 64", len(local))
	}
	if strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]") {
		ip := strings.TrimPrefix(domain[1:len(domain)-1], "IPv6:")
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("domain %s is not an IP address", domain)
		}
	} else {
		ascii, err := idna.Lookup.ToASCII(domain)
		if err != nil || !hostname(ascii) {
			return fmt.Errorf("domain %q is not a valid host name", domain)
		}
		domain = ascii
	}
	a.Address = local + "@" + domain
	if len(a.Address) > 254 {
		return fmt.Errorf("the address is %d characters long; at most 254", len(a.Address))
	}
	if _, err := mail.ParseAddress(a.Address); err != nil {
		// A quoted local part ("a b"@example.com) parses only quoted; the
		// events carry bare addresses, so refuse it here.
		return fmt.Errorf("the part before @ needs quoting, which is not supported")
	}
	return nil
}

// hostname is true for dot-separated labels of ASCII letters, digits and
// hyphens, 1 to 63 characters each and not starting or ending with a hyphen.
func hostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) < 1 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// bare lists the addresses without names, for the event.
func bare(l []*mail.Address) []string {
	out := make([]string, len(l))
	for i, a := range l {
		out[i] = a.Address
	}
	return out
}

// formatted lists the addresses with names, for the message headers.
func formatted(l []*mail.Address) []string {
	out := make([]string, len(l))
	for i, a := range l {
		out[i] = a.String()
	}
	return out
}
