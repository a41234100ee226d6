package workflow

import (
	"bytes"
	"errors"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// maxSyntaxScanBytes bounds the work of locating a syntax error by parsing
// prefixes of the file: the prefixes parsed add up to at most this many
// bytes, and past it the line yaml.v3 gives is reported. Every prefix of a
// file that opens a bracket on its first line and never closes it fails,
// each only after being parsed to its end, so without a bound a file of a
// few thousand lines took minutes.
const maxSyntaxScanBytes = 1 << 20

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse reads the YAML into JSON values, recording every value's position.
func (l *loader) parse(data []byte) (any, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.add(1, 1, "the workflow file is empty: it needs at least name: and source:")
		} else {
			l.yamlError(data, err)
		}
		return nil, false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		line, col := extra.Line, extra.Column
		if len(extra.Content) > 0 {
			line, col = extra.Content[0].Line, extra.Content[0].Column
		}
		l.add(line, col, "a second YAML document: a workflow file holds one workflow; move this one to its own file")
	case !errors.Is(err, io.EOF):
		l.yamlError(data, err)
	}
	if len(doc.Content) == 0 {
		l.add(1, 1, "the workflow file is empty: it needs at least name: and source:")
		return nil, false
	}
	if !l.blockCount(doc.Content[0]) {
		return nil, false
	}
	root := l.value(doc.Content[0], "", nil)
	l.root, _ = root.(map[string]any)
	// A value cut short at a limit would only add problems that are not
	// in the file.
	return root, !l.full
}

// yamlError reports a YAML syntax error. yaml.v3 gives the line where the
// enclosing map or list starts, often lines before the mistake, so the line
// reported is the first one the file cannot be read up to: the last line of
// the longest prefix that does not parse, plus one.
func (l *loader) yamlError(data []byte, err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if readerProblems[msg] && l.unreadable(data, msg) {
		return
	}
	if n, ok := l.longestReadable(data); ok {
		line = n + 1
	}
	if line == 0 {
		line = 1 // yaml.v3 leaves the line out of errors on the first line
	}
	l.add(line, 0, "invalid YAML: %s", msg)
}

// longestReadable returns the most lines at the start of the file that
// parse, if it finds them within maxSyntaxScanBytes.
func (l *loader) longestReadable(data []byte) (int, bool) {
	ends := make([]int, len(l.lines)) // ends[n]: bytes in the first n lines, without the last line break
	for i, off := 1, 0; i < len(l.lines); i++ {
		off += len(l.lines[i-1])
		ends[i] = off
		off++
	}
	budget := maxSyntaxScanBytes
	for n := len(l.lines) - 1; n >= 0; n-- {
		if budget -= ends[n]; budget < 0 {
			return 0, false
		}
		var doc yaml.Node
		if yaml.Unmarshal(data[:ends[n]], &doc) == nil {
			return n, true
		}
	}
	return 0, false
}

// readerProblems are yaml.v3's messages about bytes that are not text. They
// come without a position, so unreadable finds the character.
var readerProblems = map[string]bool{
	"invalid leading UTF-8 octet":        true,
	"incomplete UTF-8 octet sequence":    true,
	"invalid trailing UTF-8 octet":       true,
	"invalid length of a UTF-8 sequence": true,
	"invalid Unicode character":          true,
	"control characters are not allowed": true,
	"incomplete UTF-16 character":        true,
	"unexpected low surrogate area":      true,
	"incomplete UTF-16 surrogate pair":   true,
	"expected low surrogate area":        true,
}

// unreadable reports the first character of data that YAML does not allow,
// at its line and column (in characters, as yaml.v3 counts them). It
// reports nothing and returns false if it finds none.
func (l *loader) unreadable(data []byte, msg string) bool {
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		l.add(1, 1, "invalid YAML: %s: the file is UTF-16 (it starts with a byte order mark); save it as UTF-8", msg)
		return true
	}
	data = bytes.TrimPrefix(data, []byte{0xEF, 0xBB, 0xBF})
	line, col := 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		switch {
		case r == utf8.RuneError && size <= 1:
			l.add(line, col, "invalid YAML: byte 0x%02X is not UTF-8: save the file as UTF-8", data[0])
			return true
		case !yamlChar(r):
			l.add(line, col, "invalid YAML: character %U is not allowed in YAML: remove it, or write it as an escape inside a double-quoted string", r)
			return true
		case lineBreak(r, data[size:]):
			line, col = line+1, 1
		default:
			col++
		}
		data = data[size:]
	}
	return false
}

// endOf returns the line and column just past the last character of data.
func endOf(data []byte) (line, col int) {
	line, col = 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		data = data[size:]
		if lineBreak(r, data) {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// lineBreak reports whether r, followed by rest, ends a line for yaml.v3:
// \n, \r not followed by \n, and the Unicode line breaks NEL, LS and PS.
func lineBreak(r rune, rest []byte) bool {
	switch r {
	case '\n', 0x85, 0x2028, 0x2029:
		return true
	case '\r':
		return len(rest) == 0 || rest[0] != '\n'
	}
	return false
}

// yamlChar reports whether YAML allows r in a file (YAML 1.2, c-printable).
func yamlChar(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r', r == 0x85:
		return true
	case r >= 0x20 && r <= 0x7E, r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// value converts a YAML node to a JSON value: maps to map[string]any, lists
// to []any, whole numbers to int64, other numbers to float64.
func (l *loader) value(n *yaml.Node, ptr string, key *yaml.Node) any {
	if !l.room(n, ptr) {
		return nil
	}
	var v any
	switch n.Kind {
	case yaml.AliasNode:
		if l.open[n.Alias] {
			l.add(n.Line, n.Column, "alias *%s is inside the value it names, so that value would never end; remove the alias", n.Value)
			return nil
		}
		l.aliased = true
		v = l.value(n.Alias, ptr, key)
	case yaml.MappingNode:
		if tag, ok := unquotedTag(n); ok {
			l.add(n.Line, n.Column, "YAML reads the unquoted %s as a map: quote the value, \"%s\"", tag, tag)
			v = tag
			break
		}
		if !l.enter(n) {
			return nil
		}
		v = l.mapping(n, ptr)
		l.leave(n)
	case yaml.SequenceNode:
		if !l.enter(n) {
			return nil
		}
		list := make([]any, len(n.Content))
		for i, item := range n.Content {
			if l.full {
				break
			}
			list[i] = l.value(item, ptrJoin(ptr, strconv.Itoa(i)), nil)
		}
		l.leave(n)
		v = list
	case yaml.ScalarNode:
		v = l.scalar(n, ptr)
	}
	l.at[ptr] = loc{key: key, val: n}
	return v
}

// unquotedTag recognises `to: {{Email}}`, which YAML reads as a map holding
// a map, and returns the tag the author meant.
func unquotedTag(n *yaml.Node) (string, bool) {
	if n.Style != yaml.FlowStyle || len(n.Content) != 2 {
		return "", false
	}
	k, v := n.Content[0], n.Content[1]
	if k.Kind != yaml.MappingNode || k.Style != yaml.FlowStyle || len(k.Content) != 2 || v.ShortTag() != "!!null" {
		return "", false
	}
	if k.Content[0].Kind != yaml.ScalarNode || k.Content[1].ShortTag() != "!!null" {
		return "", false
	}
	return "{{" + k.Content[0].Value + "}}", true
}

func (l *loader) mapping(n *yaml.Node, ptr string) map[string]any {
	m := make(map[string]any, len(n.Content)/2)
	first := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content) && !l.full; i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			l.add(k.Line, k.Column, "a key must be a name, not a list or a map")
			continue
		}
		if f, dup := first[k.Value]; dup {
			l.add(k.Line, k.Column, "duplicate key %q: it is already set at %d:%d; keep one", k.Value, f.Line, f.Column)
			continue
		}
		first[k.Value] = k
		m[k.Value] = l.value(v, ptrJoin(ptr, k.Value), k)
	}
	// Keys written in the map win over merged ones (<<: *defaults).
	for _, mv := range merges {
		l.merge(m, mv, ptr)
	}
	return m
}

// merge adds to m the keys it does not have yet of the map, or list of maps,
// that mv names. A merged map brings its own merged keys too, after the
// ones written in it.
func (l *loader) merge(m map[string]any, mv *yaml.Node, ptr string) {
	srcs := []*yaml.Node{mv}
	if mv.Kind == yaml.SequenceNode {
		srcs = mv.Content
	}
	for _, src := range srcs {
		if src.Kind == yaml.AliasNode {
			if l.open[src.Alias] {
				l.add(src.Line, src.Column, "alias *%s is inside the value it names, so that value would never end; remove the alias", src.Value)
				continue
			}
			src = src.Alias
			l.aliased = true
		}
		if src.Kind != yaml.MappingNode {
			l.add(mv.Line, mv.Column, "<< merges a map (or a list of maps) into this one")
			continue
		}
		// Counted like a value, or maps that each merge the one before
		// twice would take exponential time.
		if !l.room(src, ptr) || !l.enter(src) {
			return
		}
		var nested []*yaml.Node
		for i := 0; i+1 < len(src.Content) && !l.full; i += 2 {
			k := src.Content[i]
			switch {
			case k.Kind != yaml.ScalarNode:
			case k.ShortTag() == "!!merge":
				nested = append(nested, src.Content[i+1])
			default:
				if _, set := m[k.Value]; !set {
					m[k.Value] = l.value(src.Content[i+1], ptrJoin(ptr, k.Value), k)
				}
			}
		}
		for _, nv := range nested {
			l.merge(m, nv, ptr)
		}
		l.leave(src)
	}
}

func (l *loader) scalar(n *yaml.Node, ptr string) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		if b, ok := decodeAs[bool](n); ok {
			return b
		}
	case "!!int":
		if i, ok := decodeAs[int64](n); ok {
			return i
		}
		if f, ok := decodeAs[float64](n); ok {
			return f
		}
	case "!!float":
		if f, ok := decodeAs[float64](n); ok {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				l.add(n.Line, n.Column, "%s is not a number JSON can hold: quote it if it is text", n.Value)
				l.flagged[ptr] = true
				return nil
			}
			return f
		}
	}
	return n.Value
}

// decodeAs is n's value as a T, and whether it is one.
func decodeAs[T any](n *yaml.Node) (T, bool) {
	var v T
	return v, n.Decode(&v) == nil
}
