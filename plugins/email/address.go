package main

import (
	"fmt"
	"net/mail"
	"net/netip"
	"regexp"
	"strings"

	"golang.org/x/net/idna"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// addressField is an address field of `with:` (to, cc, bcc, from,
// reply_to) as written in the workflow, its tags compiled once.
//
// The host fills tags in before the block sees an item, so the resolved
// text alone cannot tell "a@x, {{Email}}" from a field that holds
// "a@x, b@y". The block therefore renders the written text again with
// each value a tag inserts kept apart: commas written in the file separate
// addresses, and every inserted value is at most one address (a display
// name or the address itself), never a list, never a second header.
type addressField struct {
	name    string
	entries []addressSource
}

// addressSource is one string of an address field as written.
type addressSource struct {
	src  string
	list bool           // {list: ...}: the whole value is a list, by choice
	tpl  *tags.Template // nil when src has no tags
}

// compileAddresses parses the tags of a configured address field.
func compileAddresses(name string, l addressList) (*addressField, error) {
	f := &addressField{name: name}
	for _, e := range l {
		s := addressSource{src: e.Text, list: e.List}
		if !e.List && tags.HasTags(e.Text) {
			t, err := tags.Parse(e.Text)
			if err != nil {
				return nil, fmt.Errorf("%s: %q: %v", name, e.Text, err)
			}
			s.tpl = t
		}
		f.entries = append(f.entries, s)
	}
	return f, nil
}

// dynamic reports whether reading the field for an item needs the item's
// fields (some entry inserts values that must be kept apart).
func (f *addressField) dynamic() bool {
	for _, e := range f.entries {
		if e.tpl != nil {
			return true
		}
	}
	return false
}

// addresses reads the field for one item: resolved is the field as the
// host resolved it for the item, scope what the tags see.
func (f *addressField) addresses(resolved addressList, scope tags.Scope) ([]*mail.Address, error) {
	if len(resolved) != len(f.entries) {
		return nil, fmt.Errorf("%s: the item's configuration has %d entries where the workflow has %d", f.name, len(resolved), len(f.entries))
	}
	var out []*mail.Address
	for i, e := range f.entries {
		if e.tpl == nil {
			l, err := parseAddresses(f.name, []string{resolved[i].Text})
			if err != nil {
				return nil, err
			}
			out = append(out, l...)
			continue
		}
		segs, err := e.render(f.name, resolved[i].Text, scope)
		if err != nil {
			return nil, err
		}
		for _, entry := range splitEntries(segs) {
			a, err := entry.address()
			if err != nil {
				return nil, fmt.Errorf("%s: %s gives %s", f.name, e.src, err)
			}
			if a != nil {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// segment is a run of an address entry's text: written in the workflow
// (or a secret, which the operator sets), or inserted from the item.
type segment struct {
	text  string
	value bool
}

// Markers stand where a tag's output goes while the written text is cut
// apart; item values holding control characters are refused before the
// markers could be confused with them.
const (
	valueMarker  = "\x00v\x00"
	secretMarker = "\x00s\x00"
)

// render renders the entry for the item with every inserted value kept as
// its own segment. Secrets are not available to a block: their values are
// taken from the host's resolved text, and count as written text.
func (e *addressSource) render(field, resolved string, scope tags.Scope) ([]segment, error) {
	var values []string
	scope.Secrets = func(string) (string, bool) { return secretMarker, true }
	scope.Escape = func(v string) string {
		values = append(values, v)
		return valueMarker
	}
	out, err := e.tpl.Render(scope)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", field, e.src, err)
	}
	texts := strings.Split(out, valueMarker)
	if len(texts) != len(values)+1 {
		return nil, fmt.Errorf("%s: %s: the written text holds a NUL character", field, e.src)
	}
	segs := make([]segment, 0, 2*len(values)+1)
	secrets := false
	for i, t := range texts {
		segs = append(segs, segment{text: t})
		if i < len(values) {
			v := values[i]
			if strings.Contains(v, secretMarker) {
				secrets = true
				segs = append(segs, segment{text: v}) // filled in below
				continue
			}
			if strings.ContainsAny(v, "\r\n") {
				return nil, fmt.Errorf("%s: %s gives a value with a line break (header injection refused)", field, e.src)
			}
			if strings.IndexFunc(v, isControl) >= 0 {
				return nil, fmt.Errorf("%s: %s gives a value with a control character", field, e.src)
			}
			segs = append(segs, segment{text: v, value: true})
		}
	}
	if secrets {
		return fillSecrets(field, e.src, segs, resolved)
	}
	return segs, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// fillSecrets puts the secrets' values, read off the host's resolved text,
// into segs.
func fillSecrets(field, src string, segs []segment, resolved string) ([]segment, error) {
	var pat strings.Builder
	pat.WriteString("^(?s)")
	for _, s := range segs {
		parts := strings.Split(s.text, secretMarker)
		for i, p := range parts {
			if i > 0 {
				pat.WriteString("(.*?)")
			}
			pat.WriteString(regexp.QuoteMeta(p))
		}
	}
	pat.WriteString("$")
	re, err := regexp.Compile(pat.String())
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", field, src, err)
	}
	m := re.FindStringSubmatch(resolved)
	if m == nil {
		return nil, fmt.Errorf("%s: %s: the host's value does not match the workflow's text", field, src)
	}
	m = m[1:]
	for i := range segs {
		n := strings.Count(segs[i].text, secretMarker)
		if n == 0 {
			continue
		}
		parts := strings.Split(segs[i].text, secretMarker)
		var b strings.Builder
		for j, p := range parts {
			if j > 0 {
				b.WriteString(m[0])
				m = m[1:]
			}
			b.WriteString(p)
		}
		segs[i] = segment{text: b.String()}
	}
	return segs, nil
}

// splitEntries cuts segs at the commas of the written text, outside quotes
// and angle brackets; a comma inside an item value never separates.
func splitEntries(segs []segment) []entry {
	var out []entry
	var cur entry
	quoted, angle := false, false
	for _, s := range segs {
		if s.value {
			cur = append(cur, s)
			continue
		}
		start := 0
		for i := 0; i < len(s.text); i++ {
			switch c := s.text[i]; {
			case c == '"':
				quoted = !quoted
			case c == '<' && !quoted:
				angle = true
			case c == '>' && !quoted:
				angle = false
			case c == ',' && !quoted && !angle:
				cur = append(cur, segment{text: s.text[start:i]})
				out = append(out, cur)
				cur, start = nil, i+1
			}
		}
		cur = append(cur, segment{text: s.text[start:]})
	}
	return append(out, cur)
}

// entry is the segments of one address.
type entry []segment

func (e entry) String() string {
	var b strings.Builder
	for _, s := range e {
		b.WriteString(s.text)
	}
	return b.String()
}

// address reads the one address of e; nil when e is blank (an empty
// column). A value inside <...> must be one bare address; a value in the
// display name stays text, commas and all.
func (e entry) address() (*mail.Address, error) {
	text := strings.TrimSpace(e.String())
	if text == "" {
		return nil, nil
	}
	if !e.hasValue() {
		a, err := mail.ParseAddress(text)
		if err != nil {
			return nil, fmt.Errorf("%q, which is not a valid email address (%v)", text, err)
		}
		return a, normalize(a)
	}
	name, addr, angled := e.cutAngle()
	if !angled {
		return single(text)
	}
	a, err := single(strings.TrimSpace(addr.String()))
	if err != nil {
		return nil, err
	}
	if a.Name != "" {
		return nil, fmt.Errorf("%q for this item, which is not one bare address inside <...>", text)
	}
	nameText := strings.TrimSpace(name.String())
	if !name.hasValue() {
		// Written as is: let the parser read quotes and encoded words.
		if nameText != "" {
			w, err := mail.ParseAddress(nameText + " <" + a.Address + ">")
			if err != nil {
				return nil, fmt.Errorf("%q, which is not a valid email address (%v)", text, err)
			}
			a.Name = w.Name
		}
		return a, nil
	}
	if len(nameText) >= 2 && nameText[0] == '"' && nameText[len(nameText)-1] == '"' && !name[0].value && !name[len(name)-1].value {
		nameText = nameText[1 : len(nameText)-1]
	}
	a.Name = nameText
	return a, nil
}

func (e entry) hasValue() bool {
	for _, s := range e {
		if s.value {
			return true
		}
	}
	return false
}

// cutAngle splits "name <addr>" at the written angle brackets; angled is
// false when the written text has none at its end.
func (e entry) cutAngle() (name, addr entry, angled bool) {
	// The written '>' must end the entry.
	last := len(e) - 1
	for last >= 0 && !e[last].value && strings.TrimSpace(e[last].text) == "" {
		last--
	}
	if last < 0 || e[last].value {
		return nil, nil, false
	}
	closing := strings.TrimRight(e[last].text, " \t")
	if !strings.HasSuffix(closing, ">") {
		return nil, nil, false
	}
	for i := last; i >= 0; i-- {
		if e[i].value {
			continue
		}
		t := e[i].text
		if i == last {
			t = closing[:len(closing)-1]
		}
		at := strings.LastIndexByte(t, '<')
		if at < 0 {
			continue
		}
		name = append(append(entry{}, e[:i]...), segment{text: t[:at]})
		addr = entry{segment{text: t[at+1:]}}
		if i < last {
			addr = append(addr, e[i+1:last]...)
			addr = append(addr, segment{text: closing[:len(closing)-1]})
		}
		return name, addr, true
	}
	return nil, nil, false
}

// single parses text that must be exactly one address.
func single(text string) (*mail.Address, error) {
	a, err := mail.ParseAddress(text)
	if err != nil {
		if l, lerr := mail.ParseAddressList(text); lerr == nil && len(l) > 1 {
			return nil, fmt.Errorf("%q for this item: %d addresses where one is expected. A value inserted by a tag is one recipient; for a field that holds a list write {list: \"{{Field}}\"}", text, len(l))
		}
		return nil, fmt.Errorf("%q for this item, which is not one valid email address (%v); write name@example.com or Name <name@example.com>", text, err)
	}
	if err := normalize(a); err != nil {
		return nil, fmt.Errorf("%q for this item: %v", text, err)
	}
	return a, nil
}

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
