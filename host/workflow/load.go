package workflow

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// maxSyntaxScanBytes bounds the work of locating a syntax error by parsing
// prefixes of the file: the prefixes parsed add up to at most this many
// bytes, and past it the line yaml.v3 gives is reported. Every prefix of a
// file that opens a bracket on its first line and never closes it fails,
// each only after being parsed to its end, so without a bound a file of a
// few thousand lines took minutes.
const maxSyntaxScanBytes = 1 << 20

// MaxFileBytes is the largest workflow file Load reads. A workflow names
// its data (a CSV, a JSON file) rather than holding it, so a real one is a
// few kilobytes; the limit is checked before the file is parsed.
const MaxFileBytes = 1 << 20

// MaxBlocks is the most blocks a workflow may have (the source not
// counted). Each block is a plugin instance the engine starts for a run,
// so this also bounds the instances one workflow starts. Load checks it
// before it builds or validates anything.
const MaxBlocks = 200

// Limits on the values a file may expand to. YAML aliases repeat a value
// wherever they are used, and every value is kept with its JSON pointer, the
// keys on the way to it, for the positions of problems. Without the limits a
// file of a few hundred bytes makes the loader build gigabytes: a "billion
// laughs" (lists of aliases to lists of aliases), a long key above many
// aliased values, or an alias inside the value it names.
const (
	maxNodes         = 100_000  // values, aliases expanded
	maxDepth         = 100      // maps and lists inside each other
	maxExpandedBytes = 32 << 20 // the text of every value and of its pointer, added up
)

// Load reads, checks and compiles the workflow file at path. It returns the
// workflow, or nil and every problem found, sorted by position.
func Load(path string, cat Catalog, opts ...Option) (*Workflow, Problems) {
	l := &loader{file: path, cat: cat, at: map[string]loc{}, flagged: map[string]bool{}, tpls: map[string]*tags.Template{}, open: map[*yaml.Node]bool{}}
	for _, o := range opts {
		o(&l.opts)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: err.Error()}}
	}
	l.dir = filepath.Dir(abs)
	data, prob := readLimited(path)
	if prob != nil {
		return nil, Problems{*prob}
	}
	l.lines = strings.Split(string(data), "\n")
	l.endLine, l.endCol = endOf(data)

	root, ok := l.parse(data)
	if ok {
		l.checkSchema(root)
		w := l.build(root)
		w.File, w.Dir = abs, l.dir
		if len(l.probs) == 0 {
			return w, nil
		}
	}
	return nil, l.probs.sorted()
}

// readLimited reads the file at path, refusing one over MaxFileBytes
// without reading it all.
func readLimited(path string) ([]byte, *Problem) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Problem{File: path, Msg: fmt.Sprintf("cannot read the workflow file: %v", err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, &Problem{File: path, Msg: fmt.Sprintf("cannot read the workflow file: %v", err)}
	}
	if len(data) > MaxFileBytes {
		size := int64(len(data)) // a pipe is read only up to the limit
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		return nil, &Problem{File: path, Msg: fmt.Sprintf("the workflow file is %s, more than the %d MiB a workflow file may be; keep data in the source's files, not in the workflow",
			mebibytes(size), MaxFileBytes>>20)}
	}
	return data, nil
}

// mebibytes formats a size over the limit: in MiB, or in bytes when MiB
// would round to the limit itself.
func mebibytes(n int64) string {
	if n < 2<<20 {
		if n == MaxFileBytes+1 {
			return fmt.Sprintf("more than %d bytes", MaxFileBytes)
		}
		return fmt.Sprintf("%d bytes", n)
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}

// loc is where a value is: the key that names it (nil for list items and the
// root) and the value's own node.
type loc struct{ key, val *yaml.Node }

type loader struct {
	file, dir string
	lines     []string
	endLine   int // the position just past the last character
	endCol    int
	cat       Catalog
	opts      options
	probs     Problems
	root      map[string]any
	at        map[string]loc            // JSON pointer → position
	flagged   map[string]bool           // pointers that already have a schema problem
	tpls      map[string]*tags.Template // JSON pointer of a string → its template
	nodes     int                       // values built so far
	expanded  int                       // bytes of text and pointers built so far
	depth     int                       // maps and lists around the value being built
	open      map[*yaml.Node]bool       // maps and lists being built, to catch an alias inside its own value
	full      bool                      // a limit was reached: build no more
	aliased   bool                      // an alias or merge key was expanded: a limit reached since may be its doing
}

func (l *loader) add(line, col int, format string, args ...any) {
	// yaml.v3 places an empty value at the very end of a file (a lone
	// "---", or "key:" without a line break) on the line after the last.
	if line > l.endLine {
		line, col = l.endLine, l.endCol
	}
	l.probs = append(l.probs, Problem{File: l.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

// addAt reports a problem at the value (or key) with the given pointer, or
// at its nearest ancestor that exists in the file.
func (l *loader) addAt(ptr string, atKey bool, msg string) {
	line, col := l.pos(ptr, atKey)
	l.add(line, col, "%s", msg)
}

func (l *loader) pos(ptr string, atKey bool) (int, int) {
	for {
		if lc, ok := l.at[ptr]; ok {
			n := lc.val
			if atKey && lc.key != nil {
				n = lc.key
			}
			return n.Line, n.Column
		}
		if ptr == "" {
			return 1, 1
		}
		ptr = ptr[:strings.LastIndexByte(ptr, '/')]
	}
}

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

// blockCount reports a blocks: list longer than MaxBlocks, at its key,
// before any value is built.
func (l *loader) blockCount(root *yaml.Node) bool {
	if root.Kind != yaml.MappingNode {
		return true
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value != "blocks" {
			continue
		}
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if v.Kind == yaml.SequenceNode && len(v.Content) > MaxBlocks {
			l.add(k.Line, k.Column, "blocks: %d blocks, more than the %d a workflow may have; split the work into several workflows", len(v.Content), MaxBlocks)
			return false
		}
	}
	return true
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

// room counts a value against maxNodes and maxExpandedBytes, and reports
// the first limit the file goes over.
func (l *loader) room(n *yaml.Node, ptr string) bool {
	if l.full {
		return false
	}
	l.nodes++
	l.expanded += len(ptr) + len(n.Value)
	switch {
	case l.nodes > maxNodes && l.aliased:
		l.add(n.Line, n.Column, "the file expands to more than %d values, through YAML aliases; write it out plainly", maxNodes)
	case l.nodes > maxNodes:
		l.add(n.Line, n.Column, "the file holds more than %d values; a workflow needs far fewer: keep data in the source's files, not in the workflow", maxNodes)
	case l.expanded > maxExpandedBytes && l.aliased:
		l.add(n.Line, n.Column, "the file expands to more than %d MiB of keys and values, through YAML aliases or long keys above many values; write it out plainly with shorter keys",
			maxExpandedBytes>>20)
	case l.expanded > maxExpandedBytes:
		l.add(n.Line, n.Column, "the file's values, each with the keys above it, add up to more than %d MiB: use shorter keys", maxExpandedBytes>>20)
	default:
		return true
	}
	l.full = true
	return false
}

// enter starts building a map or a list, within maxDepth; leave ends it.
func (l *loader) enter(n *yaml.Node) bool {
	if l.depth >= maxDepth {
		how := ""
		if l.aliased {
			how = " (YAML aliases expanded)"
		}
		l.add(n.Line, n.Column, "values nest more than %d maps and lists deep%s; a workflow needs far fewer: flatten this value", maxDepth, how)
		l.full = true
		return false
	}
	l.depth++
	l.open[n] = true
	return true
}

func (l *loader) leave(n *yaml.Node) {
	l.depth--
	delete(l.open, n)
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
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
	case "!!int":
		var i int64
		if n.Decode(&i) == nil {
			return i
		}
		var f float64
		if n.Decode(&f) == nil {
			return f
		}
	case "!!float":
		var f float64
		if n.Decode(&f) == nil {
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

func (l *loader) checkSchema(root any) {
	s, err := workflowSchema()
	if err != nil {
		l.add(0, 0, "the workflow schema does not compile: %v", err)
		return
	}
	for _, is := range s.validate(root) {
		l.flagged[is.ptr] = true
		msg := is.msg
		if lbl := l.label(is.ptr, is.obj); lbl != "" {
			msg = lbl + ": " + msg
		}
		l.addAt(is.ptr, is.atKey, msg)
	}
}

// label names the place of a pointer for a message: `block "send": with.to`,
// `source: with`, `name`. With obj, the place is the pointer's parent (an
// unknown key is a problem of the map that has it).
func (l *loader) label(ptr string, obj bool) string {
	toks := splitPtr(ptr)
	if obj && len(toks) > 0 {
		toks = toks[:len(toks)-1]
	}
	var head string
	switch {
	case len(toks) >= 2 && toks[0] == "blocks":
		head = "blocks[" + toks[1] + "]"
		if i, err := strconv.Atoi(toks[1]); err == nil {
			if bs, ok := l.root["blocks"].([]any); ok && i < len(bs) {
				if bm, ok := bs[i].(map[string]any); ok {
					if id, ok := bm["id"].(string); ok && id != "" {
						head = fmt.Sprintf("block %q", id)
					}
				}
			}
		}
		toks = toks[2:]
	case len(toks) >= 1 && toks[0] == "source":
		head, toks = "source", toks[1:]
	}
	var rest strings.Builder
	for _, t := range toks {
		if _, err := strconv.Atoi(t); err == nil && rest.Len() > 0 {
			rest.WriteString("[" + t + "]")
			continue
		}
		if rest.Len() > 0 {
			rest.WriteByte('.')
		}
		rest.WriteString(t)
	}
	switch {
	case head == "":
		return rest.String()
	case rest.Len() == 0:
		return head
	}
	return head + ": " + rest.String()
}

// prob reports a problem at ptr, its message starting with the place.
func (l *loader) prob(ptr string, atKey bool, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if lbl := l.label(ptr, false); lbl != "" {
		msg = lbl + ": " + msg
	}
	l.addAt(ptr, atKey, msg)
}

// build checks what the schema cannot and compiles the blocks.
func (l *loader) build(root any) *Workflow {
	w := &Workflow{}
	m, _ := root.(map[string]any)
	w.Name, _ = m["name"].(string)
	w.Description, _ = m["description"].(string)

	// Every block id with its first index, for the messages about order.
	var ids []string
	first := map[string]int{}
	list, _ := m["blocks"].([]any)
	for i, item := range list {
		bm, _ := item.(map[string]any)
		id, _ := bm["id"].(string)
		ids = append(ids, id)
		if id == "" {
			continue
		}
		if j, dup := first[id]; dup {
			line, col := l.pos(ptrJoin(ptrJoin("/blocks", strconv.Itoa(j)), "id"), false)
			l.prob(ptrJoin(ptrJoin("/blocks", strconv.Itoa(i)), "id"), false,
				"duplicate block id %q: the block at %d:%d has it already; give each block its own id", id, line, col)
			continue
		}
		first[id] = i
	}
	order := blockOrder{ids: ids, first: first}

	if sm, ok := m["source"].(map[string]any); ok {
		w.Source = l.block(sm, "/source", -1, order)
	}
	for i, item := range list {
		if bm, ok := item.(map[string]any); ok {
			w.Blocks = append(w.Blocks, l.block(bm, ptrJoin("/blocks", strconv.Itoa(i)), i, order))
		}
	}
	l.triggers(m, w)
	return w
}

// blockOrder knows which block ids come before which.
type blockOrder struct {
	ids   []string
	first map[string]int
}

// check returns what is wrong with block index i using the output of block
// id, or "". i is -1 for the source.
func (o blockOrder) check(id string, i int) string {
	if i < 0 {
		return "the source runs before any block, so it cannot use a block's output"
	}
	j, ok := o.first[id]
	switch {
	case ok && j < i:
		return ""
	case ok && j == i:
		return fmt.Sprintf("block %q cannot use its own output; only earlier blocks' output is available", id)
	case ok:
		return fmt.Sprintf("block %q runs after this one; move it before %q, or use an earlier block", id, o.ids[i])
	}
	var earlier []string
	for _, e := range o.ids[:i] {
		if e != "" {
			earlier = append(earlier, e)
		}
	}
	if len(earlier) == 0 {
		return fmt.Sprintf("there is no block %q, and no block before this one", id)
	}
	return fmt.Sprintf("there is no block %q%s; earlier blocks are %s", id, didYouMean(id, earlier), strings.Join(earlier, ", "))
}

func (l *loader) block(m map[string]any, ptr string, index int, order blockOrder) Block {
	b := Block{}
	b.ID, _ = m["id"].(string)
	b.Uses, _ = m["uses"].(string)
	b.If, _ = m["if"].(string)
	b.With, _ = m["with"].(map[string]any)
	if lc, ok := l.at[ptr]; ok {
		n := lc.val
		if index < 0 && lc.key != nil {
			n = lc.key
		}
		b.Line, b.Col = n.Line, n.Column
	}
	withPtr := ptr + "/with"

	if b.Uses != "" && !l.flagged[ptr+"/uses"] {
		spec, ok := l.cat.Lookup(b.Uses)
		switch {
		case !ok && brokenBlock(l.cat, b.Uses) != nil:
			l.prob(ptr+"/uses", false, "block %q is installed but cannot be used: %v", b.Uses, brokenBlock(l.cat, b.Uses))
		case !ok:
			names := append([]string(nil), l.cat.Names()...)
			sort.Strings(names)
			if len(names) == 0 {
				l.prob(ptr+"/uses", false, "unknown block %q: no blocks are installed in the plugin directory; build them with `make build` or point --plugins (PAPERFLOW_PLUGIN_DIR) at them", b.Uses)
			} else {
				l.prob(ptr+"/uses", false, "unknown block %q%s: installed blocks are %s", b.Uses, didYouMean(b.Uses, names), strings.Join(names, ", "))
			}
		case index < 0 && spec.Kind != KindSource:
			l.prob(ptr+"/uses", false, "%q is a %s block, not a source: use a source here (%s) and put %q under blocks:",
				b.Uses, spec.Kind, strings.Join(l.namesOf(KindSource), ", "), b.Uses)
		case index >= 0 && spec.Kind == KindSource:
			l.prob(ptr+"/uses", false, "%q is a source block: a workflow has one source, under source:; blocks are steps (%s) and sinks (%s)",
				b.Uses, strings.Join(l.namesOf(KindStep), ", "), strings.Join(l.namesOf(KindSink), ", "))
		case spec.Kind != KindSource && spec.Kind != KindStep && spec.Kind != KindSink:
			l.prob(ptr+"/uses", false, "block %q describes itself with an unknown kind %d: this is a bug in the block", b.Uses, spec.Kind)
		default:
			b.Kind = spec.Kind
			if !l.flagged[withPtr] {
				l.checkConfig(spec, b.Uses, b.With, ptr, index, order)
			}
		}
	}

	l.templates(b.With, withPtr, index, order)
	if b.If != "" {
		ifPtr := ptr + "/if"
		b.cond = l.template(b.If, ifPtr, index, order)
		if !tags.HasTags(b.If) && !constant(b.If) {
			l.prob(ifPtr, false, "%q has no tag, so it is the same for every item: write the condition as a tag, e.g. if: '{{Country == \"DE\"}}'", b.If)
		}
	}
	l.switches(&b, m, ptr)
	b.config, b.parts, b.size = compileWith(b.With, withPtr, func(p string) *tags.Template { return l.tpls[p] })
	return b
}

// constant reports whether an if: without tags is meant as a fixed switch.
func constant(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "false", "yes", "no", "0", "1":
		return true
	}
	return false
}

func (l *loader) namesOf(k Kind) []string {
	var out []string
	for _, n := range l.cat.Names() {
		if s, ok := l.cat.Lookup(n); ok && s.Kind == k {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// checkConfig validates a block's with: against the block's own schema, and
// the file paths and block references the schema marks.
func (l *loader) checkConfig(spec BlockSpec, uses string, with map[string]any, ptr string, index int, order blockOrder) {
	s, err := blockSchema(uses, spec.ConfigSchema)
	if err != nil {
		l.prob(ptr+"/uses", false, "the configuration schema of %q does not compile, a bug in the block: %v", uses, err)
		return
	}
	var v any = map[string]any{}
	if with != nil {
		v = with
	}
	withPtr := ptr + "/with"
	for _, is := range s.validate(v) {
		// A string with tags is only known per item: its type, pattern,
		// length or format cannot be judged here.
		if x, ok := valueAt(v, is.ptr); ok && !is.atKey {
			if str, ok := x.(string); ok && tags.HasTags(str) {
				continue
			}
		}
		p := withPtr + is.ptr
		if l.flagged[p] {
			continue
		}
		msg := is.msg
		if lbl := l.label(p, is.obj); lbl != "" {
			msg = lbl + ": " + msg
		}
		l.addAt(p, is.atKey, msg)
	}
	walkFormats(s.s, v, "", 0, func(format string, x any, rel string) {
		var items []any
		switch x := x.(type) {
		case string:
			items = []any{x}
		case []any:
			items = x
		}
		for i, item := range items {
			str, ok := item.(string)
			if !ok || str == "" || tags.HasTags(str) {
				continue
			}
			p := withPtr + rel
			if _, isList := x.([]any); isList {
				p = ptrJoin(p, strconv.Itoa(i))
			}
			switch format {
			case "file-path":
				path := str
				if !filepath.IsAbs(path) {
					path = filepath.Join(l.dir, path)
				}
				if _, err := os.Stat(path); err != nil {
					l.prob(p, false, "file %q does not exist; paths are relative to the workflow file's folder", str)
				}
			case "block-ref":
				if msg := order.check(str, index); msg != "" {
					l.prob(p, false, "%s", msg)
				}
			}
		}
	})
}

// valueAt returns the value at a JSON pointer inside v.
func valueAt(v any, ptr string) (any, bool) {
	for _, t := range splitPtr(ptr) {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[t]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// templates parses every string with a tag inside v.
func (l *loader) templates(v any, ptr string, index int, order blockOrder) {
	switch x := v.(type) {
	case map[string]any:
		for k, item := range x {
			l.templates(item, ptrJoin(ptr, k), index, order)
		}
	case []any:
		for i, item := range x {
			l.templates(item, ptrJoin(ptr, strconv.Itoa(i)), index, order)
		}
	case string:
		if tags.HasTags(x) {
			if t := l.template(x, ptr, index, order); t != nil {
				l.tpls[ptr] = t
			}
		}
	}
}

// template parses one string and checks its references; nil on a syntax
// error, which it reports.
func (l *loader) template(src, ptr string, index int, order blockOrder) *tags.Template {
	t, err := tags.Parse(src)
	if err != nil {
		var se *tags.SyntaxError
		if !errors.As(err, &se) {
			l.prob(ptr, false, "%v", err)
			return nil
		}
		line, col := l.tagPos(ptr, src, se.Offset, se.Line, se.Col)
		l.add(line, col, "%s: %s", l.label(ptr, false), se.Msg)
		return nil
	}
	for _, r := range t.Refs() {
		var msg string
		switch r.Kind {
		case tags.RefBlock:
			if m := order.check(r.BlockID(), index); m != "" {
				msg = r.Tag + ": " + m
			}
		case tags.RefSecret:
			if _, ok := l.opts.secrets.Lookup(r.Path); l.opts.check && !ok {
				msg = fmt.Sprintf("%s: secret %q is not set: set the environment variable %s%s or add it to the secrets file", r.Tag, r.Path, SecretEnvPrefix, r.Path)
			}
		case tags.RefField:
			if index < 0 {
				msg = r.Tag + ": the source runs before there is any item, so it cannot use fields; use a fixed value or a secret"
			}
		}
		if msg != "" {
			line, col := l.tagPos(ptr, src, r.Offset, r.Line, r.Col)
			l.add(line, col, "%s: %s", l.label(ptr, false), msg)
		}
	}
	return t
}

// tagPos turns a position inside a YAML string into a position in the file.
// It is exact for one-line plain and quoted strings and for literal blocks
// (|), where the text stands in the file as it is; otherwise, as when an
// escape comes before the tag, it is the string's own position.
func (l *loader) tagPos(ptr, src string, off, line, col int) (int, int) {
	lc, ok := l.at[ptr]
	if !ok {
		return l.pos(ptr, false)
	}
	n := lc.val
	if n.Kind != yaml.ScalarNode {
		return n.Line, n.Column
	}
	// The text of the string from the position to the end of its line, which
	// the file must show at the computed place.
	rest := src[off:]
	if k := strings.IndexByte(rest, '\n'); k >= 0 {
		rest = rest[:k]
	}
	fileLine, fileCol := 0, 0
	switch n.Style {
	case 0, yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if strings.Contains(src, "\n") {
			break
		}
		fileLine, fileCol = n.Line, n.Column+col-1
		if n.Style != 0 {
			fileCol++
		}
	case yaml.LiteralStyle:
		fileLine = n.Line + line
		if fileLine-1 >= len(l.lines) {
			break
		}
		raw := strings.TrimRight(l.lines[fileLine-1], "\r")
		lines := strings.Split(src, "\n")
		if line-1 >= len(lines) {
			break
		}
		own := lines[line-1]
		indent := utf8.RuneCountInString(raw) - utf8.RuneCountInString(own)
		fileCol = indent + col
	}
	if fileLine >= 1 && fileLine <= len(l.lines) && fileCol >= 1 {
		runes := []rune(strings.TrimRight(l.lines[fileLine-1], "\r"))
		if fileCol-1 <= len(runes) && strings.HasPrefix(string(runes[fileCol-1:]), rest) {
			return fileLine, fileCol
		}
	}
	return n.Line, n.Column
}

// didYouMean returns ` (did you mean "x"?)` for the closest of names when it
// is close enough to be a typo, else "".
func didYouMean(s string, names []string) string {
	best, bestD := "", min(len(s)/2+1, 3)
	for _, n := range names {
		if d := distance(strings.ToLower(s), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance of a and b, in bytes.
func distance(a, b string) int {
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		prev := row[0]
		row[0] = i
		for j := 1; j <= len(b); j++ {
			cur := row[j]
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			row[j] = min(row[j]+1, row[j-1]+1, prev+cost)
			prev = cur
		}
	}
	return row[len(b)]
}
