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

// maxSyntaxScan bounds the lines of a file whose syntax error is located by
// parsing its prefixes; longer files get the line yaml.v3 gives.
const maxSyntaxScan = 5000

// maxNodes bounds the values a file may expand to through YAML aliases.
const maxNodes = 100_000

// Load reads, checks and compiles the workflow file at path. It returns the
// workflow, or nil and every problem found, sorted by position.
func Load(path string, cat Catalog, opts ...Option) (*Workflow, Problems) {
	l := &loader{file: path, cat: cat, at: map[string]loc{}, flagged: map[string]bool{}, tpls: map[string]*tags.Template{}}
	for _, o := range opts {
		o(&l.opts)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: err.Error()}}
	}
	l.dir = filepath.Dir(abs)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: fmt.Sprintf("cannot read the workflow file: %v", err)}}
	}
	l.lines = strings.Split(string(data), "\n")

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

// loc is where a value is: the key that names it (nil for list items and the
// root) and the value's own node.
type loc struct{ key, val *yaml.Node }

type loader struct {
	file, dir string
	lines     []string
	cat       Catalog
	opts      options
	probs     Problems
	root      map[string]any
	at        map[string]loc            // JSON pointer → position
	flagged   map[string]bool           // pointers that already have a schema problem
	tpls      map[string]*tags.Template // JSON pointer of a string → its template
	nodes     int
}

func (l *loader) add(line, col int, format string, args ...any) {
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
			l.yamlError(err)
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
		l.yamlError(err)
	}
	if len(doc.Content) == 0 {
		l.add(1, 1, "the workflow file is empty: it needs at least name: and source:")
		return nil, false
	}
	root := l.value(doc.Content[0], "", nil)
	l.root, _ = root.(map[string]any)
	return root, true
}

// yamlError reports a YAML syntax error. yaml.v3 gives the line where the
// enclosing map or list starts, often lines before the mistake, so the line
// reported is the first one the file cannot be read up to: the last line of
// the longest prefix that does not parse, plus one.
func (l *loader) yamlError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if len(l.lines) <= maxSyntaxScan {
		for n := len(l.lines) - 1; n >= 0; n-- {
			var doc yaml.Node
			if yaml.Unmarshal([]byte(strings.Join(l.lines[:n], "\n")), &doc) == nil {
				line = n + 1
				break
			}
		}
	}
	l.add(line, 0, "invalid YAML: %s", msg)
}

// value converts a YAML node to a JSON value: maps to map[string]any, lists
// to []any, whole numbers to int64, other numbers to float64.
func (l *loader) value(n *yaml.Node, ptr string, key *yaml.Node) any {
	if l.nodes++; l.nodes > maxNodes {
		if l.nodes == maxNodes+1 {
			l.add(n.Line, n.Column, "the file expands to more than %d values, through YAML aliases; write it out plainly", maxNodes)
		}
		return nil
	}
	var v any
	switch n.Kind {
	case yaml.AliasNode:
		v = l.value(n.Alias, ptr, key)
	case yaml.MappingNode:
		if tag, ok := unquotedTag(n); ok {
			l.add(n.Line, n.Column, "YAML reads the unquoted %s as a map: quote the value, \"%s\"", tag, tag)
			v = tag
			break
		}
		v = l.mapping(n, ptr)
	case yaml.SequenceNode:
		list := make([]any, len(n.Content))
		for i, item := range n.Content {
			list[i] = l.value(item, ptrJoin(ptr, strconv.Itoa(i)), nil)
		}
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
	for i := 0; i+1 < len(n.Content); i += 2 {
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
		srcs := []*yaml.Node{mv}
		if mv.Kind == yaml.SequenceNode {
			srcs = mv.Content
		}
		for _, src := range srcs {
			for src.Kind == yaml.AliasNode {
				src = src.Alias
			}
			if src.Kind != yaml.MappingNode {
				l.add(mv.Line, mv.Column, "<< merges a map (or a list of maps) into this one")
				continue
			}
			for i := 0; i+1 < len(src.Content); i += 2 {
				k := src.Content[i]
				if _, set := m[k.Value]; !set && k.Kind == yaml.ScalarNode {
					m[k.Value] = l.value(src.Content[i+1], ptrJoin(ptr, k.Value), k)
				}
			}
		}
	}
	return m
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
