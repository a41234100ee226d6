package tags

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/paperflow/paperflow/plugins/sdk/suggest"
)

// SyntaxError is a mistake in a template's source, found by Parse.
type SyntaxError struct {
	Offset int    // byte offset in the source
	Line   int    // 1-based line
	Col    int    // 1-based column, counted in characters
	Msg    string // what is wrong and what to do; no position inside
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// RefKind says what a tag refers to.
type RefKind int

const (
	RefField  RefKind = iota + 1 // an item field: {{Name}}
	RefBlock                     // an earlier block's output: {{blocks.fill.url}}
	RefSecret                    // a secret: {{ .secrets.TOKEN }}
)

func (k RefKind) String() string {
	switch k {
	case RefField:
		return "field"
	case RefBlock:
		return "block"
	case RefSecret:
		return "secret"
	}
	return "RefKind(" + strconv.Itoa(int(k)) + ")"
}

// Ref is one reference made by a template, for checks before anything runs.
type Ref struct {
	Kind RefKind
	// Path is the field path as written ("customer.address.city"), the
	// secret's name, or for RefBlock the block id followed by the path inside
	// its output ("fill.url"), without "blocks.".
	Path string
	// Tag is the whole tag as written, e.g. `{{blocks.fill.url | upper}}`.
	Tag string
	// Offset (bytes), Line and Col (1-based, characters) locate the tag's
	// opening "{{" in the source.
	Offset, Line, Col int
}

// BlockID returns the block id of a RefBlock reference.
func (r Ref) BlockID() string {
	id, _, _ := strings.Cut(r.Path, ".")
	return id
}

// Template is a parsed template. It is immutable and safe for concurrent use.
type Template struct {
	src   string
	nodes []node
	refs  []Ref
	size  int // expected output size, a hint for the output buffer
	tags  bool
}

// HasTags reports whether src contains a tag at all; a string without one
// renders as itself.
func HasTags(src string) bool { return strings.Contains(src, "{{") }

// Source returns the text the template was parsed from.
func (t *Template) Source() string { return t.src }

// Refs lists every field, block and secret the template refers to, in order
// of appearance. References local to {{#each}} ({{this}}, {{@index}}) are
// not listed; a plain {{name}} inside #each is, as a field.
func (t *Template) Refs() []Ref { return append([]Ref(nil), t.refs...) }

// Parse compiles src. A mistake is reported as a *SyntaxError.
func Parse(src string) (*Template, error) {
	t := &Template{src: src, size: len(src)}
	if !HasTags(src) {
		if src != "" {
			t.nodes = []node{&textNode{src}}
		}
		return t, nil
	}
	p := &parser{src: src, line: 1, col: 1}
	if err := p.parse(); err != nil {
		return nil, err
	}
	t.nodes, t.refs, t.tags = p.root, p.refs, true
	t.size += 8 * p.ntags
	return t, nil
}

// The compiled nodes. Render walks them with a type switch.
type (
	node     any
	textNode struct{ text string }
	// tagNode prints the value of a tag.
	tagNode struct {
		at tagPos
		c  cond
	}
	ifNode struct {
		at        tagPos
		c         cond
		negate    bool // #unless
		then, els []node
	}
	eachNode struct {
		at        tagPos
		list      operand
		body, els []node
	}
)

// tagPos locates a tag for error messages.
type tagPos struct {
	tag            string
	off, line, col int
}

// cond is an expression or a comparison of two.
type cond struct {
	l  expr
	op byte // 0, '=' for ==, '!' for !=
	r  expr
}

type expr struct {
	o       operand
	pipes   []call
	lenient bool // a default helper takes care of a missing value
}

type operandKind uint8

const (
	opLit operandKind = iota
	opField
	opBlock
	opSecret
	opThis
	opIndex
)

type operand struct {
	kind  operandKind
	lit   any    // opLit: string, float64 or bool
	raw   string // as written, for messages
	block string // opBlock: the block id
	name  string // opSecret: the secret name
	p     path   // opField, opBlock (inside the output), opThis (inside the element)
}

// path is a dotted path, with every join of consecutive segments made once at
// parse time so a lookup that tries "a.b" before "a" allocates nothing.
type path struct {
	segs []string
	keys [][]string // keys[i][k] = strings.Join(segs[i:i+k+1], ".")
	idx  []int      // idx[i] = segs[i] as an array index, or -1
}

func newPath(segs []string) path {
	p := path{segs: segs, keys: make([][]string, len(segs)), idx: make([]int, len(segs))}
	for i := range segs {
		p.keys[i] = make([]string, len(segs)-i)
		for k := range p.keys[i] {
			p.keys[i][k] = strings.Join(segs[i:i+k+1], ".")
		}
		p.idx[i] = -1
		if n, err := strconv.Atoi(segs[i]); err == nil && n >= 0 && segs[i][0] != '+' {
			p.idx[i] = n
		}
	}
	return p
}

type section struct {
	kind   string // "if", "unless" or "each"
	at     tagPos
	n      node // *ifNode or *eachNode
	inElse bool
}

type parser struct {
	src   string
	i     int // cursor inside the tag being parsed
	open  int // offset of the tag's "{{"
	root  []node
	stack []*section
	eachs int // open #each sections: {{this}} and {{@index}} are allowed inside
	refs  []Ref
	ntags int

	// position of offset pos, advanced incrementally: positions are asked in
	// increasing order, so the whole parse stays linear.
	pos, line, col int
}

func (p *parser) lineCol(off int) (int, int) {
	if off < p.pos {
		p.pos, p.line, p.col = 0, 1, 1
	}
	for ; p.pos < off; p.pos++ {
		switch c := p.src[p.pos]; {
		case c == '\n':
			p.line, p.col = p.line+1, 1
		case c&0xC0 != 0x80: // the first byte of a character
			p.col++
		}
	}
	return p.line, p.col
}

func (p *parser) errAt(off int, format string, args ...any) error {
	line, col := p.lineCol(off)
	return &SyntaxError{Offset: off, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parse() error {
	for i := 0; ; {
		j := strings.Index(p.src[i:], "{{")
		if j < 0 {
			p.add(p.src[i:])
			break
		}
		p.add(p.src[i : i+j])
		end, err := p.tag(i + j)
		if err != nil {
			return err
		}
		i = end
	}
	if n := len(p.stack); n > 0 {
		s := p.stack[n-1]
		return p.errAt(s.at.off, "unclosed section %q: add \"{{/%s}}\" where it ends", s.at.tag, s.kind)
	}
	return nil
}

// add appends text or a node to the innermost open section.
func (p *parser) add(x any) {
	var n node
	switch x := x.(type) {
	case string:
		if x == "" {
			return
		}
		n = &textNode{x}
	default:
		n = x
	}
	if len(p.stack) == 0 {
		p.root = append(p.root, n)
		return
	}
	switch s := p.stack[len(p.stack)-1]; sn := s.n.(type) {
	case *ifNode:
		if s.inElse {
			sn.els = append(sn.els, n)
		} else {
			sn.then = append(sn.then, n)
		}
	case *eachNode:
		if s.inElse {
			sn.els = append(sn.els, n)
		} else {
			sn.body = append(sn.body, n)
		}
	}
}

func (p *parser) peek() byte {
	if p.i < len(p.src) {
		return p.src[p.i]
	}
	return 0
}

func (p *parser) skipSpace() {
	for p.i < len(p.src) && (p.src[p.i] == ' ' || p.src[p.i] == '\t' || p.src[p.i] == '\r') {
		p.i++
	}
}

// atStop reports whether the cursor reached a place a tag cannot continue
// past: the end, a new line or another "{{".
func (p *parser) atStop() bool {
	return p.i >= len(p.src) || p.src[p.i] == '\n' || strings.HasPrefix(p.src[p.i:], "{{")
}

// snippet is the tag as written, for messages: up to its "}}", or to where
// it stops when it is not closed.
func (p *parser) snippet() string {
	rest := p.src[p.open:]
	end := len(rest)
	if k := strings.Index(rest[2:], "}}"); k >= 0 {
		end = k + 4
	}
	if k := strings.IndexByte(rest, '\n'); k >= 0 && k < end {
		end = k
	}
	if k := strings.Index(rest[2:], "{{"); k >= 0 && k+2 < end {
		end = k + 2
	}
	s := strings.TrimRight(rest[:end], " \t\r")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func (p *parser) unclosed() error {
	return p.errAt(p.open, "unclosed tag %q: add \"}}\"", p.snippet())
}

// word reads a run of letters, digits and underscores.
func (p *parser) word() string {
	start := p.i
	for p.i < len(p.src) {
		c := p.src[p.i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			p.i++
			continue
		}
		break
	}
	return p.src[start:p.i]
}

// tag parses the tag opening at open and returns the offset after its "}}".
func (p *parser) tag(open int) (int, error) {
	p.open, p.i = open, open+2
	p.ntags++
	nrefs := len(p.refs)
	line, col := p.lineCol(open)
	at := tagPos{off: open, line: line, col: col}

	var n node // the node to add, if any
	var opened *section
	p.skipSpace()
	switch c := p.peek(); {
	case c == '#':
		p.i++
		kwAt := p.i
		switch kw := p.word(); kw {
		case "if", "unless":
			if p.skipSpace(); strings.HasPrefix(p.src[p.i:], "}}") {
				return 0, p.errAt(open, "%q needs a condition, e.g. {{#%s Paid}} or {{#%s Country == \"DE\"}}", p.snippet(), kw, kw)
			}
			c, err := p.cond()
			if err != nil {
				return 0, err
			}
			in := &ifNode{c: c, negate: kw == "unless"}
			n, opened = in, &section{kind: kw, n: in}
		case "each":
			p.skipSpace()
			if c := p.peek(); c == '}' || p.atStop() {
				return 0, p.errAt(open, "%q needs a list, e.g. {{#each items}}", p.snippet())
			}
			o, err := p.operand(false)
			if err != nil {
				return 0, err
			}
			if o.kind == opLit || o.kind == opSecret || o.kind == opIndex {
				return 0, p.errAt(open, "%q needs a list field, e.g. {{#each items}}", p.snippet())
			}
			if p.skipSpace(); p.peek() == '|' {
				return 0, p.errAt(p.i, "helpers cannot be used in %q: write {{#each %s}}", p.snippet(), o.raw)
			}
			en := &eachNode{list: o}
			n, opened = en, &section{kind: "each", n: en}
		default:
			if p.atStop() {
				return 0, p.unclosed()
			}
			return 0, p.errAt(kwAt, "unknown section %q: use #if, #unless or #each", "#"+kw)
		}
	case c == '/':
		p.i++
		kw := p.word()
		p.skipSpace()
		if !strings.HasPrefix(p.src[p.i:], "}}") {
			if p.atStop() {
				return 0, p.unclosed()
			}
			return 0, p.errAt(open, "%q: a closing tag is just {{/if}}, {{/unless}} or {{/each}}", p.snippet())
		}
		if err := p.close(kw); err != nil {
			return 0, err
		}
	case strings.HasPrefix(p.src[p.i:], "else") && (p.i+4 == len(p.src) || strings.IndexByte(" \t}", p.src[p.i+4]) >= 0):
		p.i += 4
		if err := p.elseTag(); err != nil {
			return 0, err
		}
	default:
		if strings.HasPrefix(p.src[p.i:], "}}") {
			return 0, p.errAt(open, "empty tag %q: write a field name, e.g. {{Name}}", p.snippet())
		}
		c, err := p.cond()
		if err != nil {
			return 0, err
		}
		n = &tagNode{c: c}
	}

	p.skipSpace()
	if !strings.HasPrefix(p.src[p.i:], "}}") {
		if p.atStop() {
			return 0, p.unclosed()
		}
		return 0, p.errAt(p.i, "unexpected %q in %q: a tag is a field, then helpers after \"|\"; quote text arguments", p.rest(), p.snippet())
	}
	end := p.i + 2
	at.tag = p.src[open:end]
	for i := nrefs; i < len(p.refs); i++ {
		p.refs[i].Tag = at.tag
	}
	switch n := n.(type) {
	case *tagNode:
		n.at = at
		p.add(n)
	case *ifNode:
		n.at = at
	case *eachNode:
		n.at = at
	}
	if opened != nil {
		p.add(n)
		opened.at = at
		p.stack = append(p.stack, opened)
		if opened.kind == "each" {
			p.eachs++
		}
	}
	return end, nil
}

// rest is the unexpected text at the cursor, up to the end of the tag.
func (p *parser) rest() string {
	s := p.src[p.i:]
	if k := strings.Index(s, "}}"); k >= 0 {
		s = s[:k]
	}
	if k := strings.IndexByte(s, '\n'); k >= 0 {
		s = s[:k]
	}
	return strings.TrimSpace(s)
}

func (p *parser) close(kw string) error {
	tag := p.snippet()
	if kw != "if" && kw != "unless" && kw != "each" {
		return p.errAt(p.open, "unknown closing tag %q: use {{/if}}, {{/unless}} or {{/each}}", tag)
	}
	if len(p.stack) == 0 {
		return p.errAt(p.open, "%q closes nothing: remove it, or open the section with {{#%s …}} before it", tag, kw)
	}
	s := p.stack[len(p.stack)-1]
	if s.kind != kw {
		return p.errAt(p.open, "%q cannot close %q: write {{/%s}}", tag, s.at.tag, s.kind)
	}
	p.stack = p.stack[:len(p.stack)-1]
	if kw == "each" {
		p.eachs--
	}
	return nil
}

func (p *parser) elseTag() error {
	if len(p.stack) == 0 {
		return p.errAt(p.open, "{{else}} outside a section: it belongs between {{#if …}} and {{/if}}")
	}
	s := p.stack[len(p.stack)-1]
	if s.inElse {
		return p.errAt(p.open, "a second {{else}} in %q: a section has at most one", s.at.tag)
	}
	if p.skipSpace(); !strings.HasPrefix(p.src[p.i:], "}}") && !p.atStop() {
		return p.errAt(p.open, "%q: {{else}} stands alone; to test another condition nest {{#if …}} inside {{else}}", p.snippet())
	}
	s.inElse = true
	if s.kind == "each" {
		// The else of #each renders when the list is empty: no element there.
		p.eachs--
	}
	return nil
}

func (p *parser) cond() (cond, error) {
	var c cond
	l, err := p.expr()
	if err != nil {
		return c, err
	}
	c.l = l
	p.skipSpace()
	if s := p.src[p.i:]; strings.HasPrefix(s, "==") || strings.HasPrefix(s, "!=") {
		c.op = s[0]
		p.i += 2
		p.skipSpace()
		if strings.HasPrefix(p.src[p.i:], "}}") || p.atStop() {
			return c, p.errAt(p.i, "nothing to compare with in %q: add a value, e.g. == \"DE\"", p.snippet())
		}
		if c.r, err = p.expr(); err != nil {
			return c, err
		}
		p.literal(&c.l.o)
		p.literal(&c.r.o)
	}
	return c, nil
}

// literal turns a bare number, true or false on either side of a comparison
// into a constant, so {{#if Count == 0}} compares with zero.
func (p *parser) literal(o *operand) {
	if o.kind != opField {
		return
	}
	switch c := o.raw[0]; {
	case o.raw == "true" || o.raw == "false":
		o.kind, o.lit = opLit, o.raw
	case c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.':
		f, err := strconv.ParseFloat(o.raw, 64)
		if err != nil {
			return
		}
		o.kind, o.lit = opLit, f
	default:
		return
	}
	for i := len(p.refs) - 1; i >= 0; i-- {
		if r := p.refs[i]; r.Kind == RefField && r.Path == o.raw && r.Offset == p.open {
			p.refs = append(p.refs[:i], p.refs[i+1:]...)
			return
		}
	}
}

func (p *parser) expr() (expr, error) {
	var e expr
	o, err := p.operand(true)
	if err != nil {
		return e, err
	}
	e.o = o
	for {
		p.skipSpace()
		if p.peek() != '|' {
			return e, nil
		}
		p.i++
		p.skipSpace()
		at := p.i
		name := p.word()
		if name == "" {
			if p.atStop() {
				return e, p.unclosed()
			}
			return e, p.errAt(at, "a helper name must follow \"|\" in %q, e.g. | upper", p.snippet())
		}
		h, ok := helpers[name]
		if !ok {
			return e, p.errAt(at, "unknown helper %q%s: helpers are %s", name, suggest.DidYouMean(name, helperNames), strings.Join(helperNames, ", "))
		}
		var args []any
		for {
			p.skipSpace()
			c := p.peek()
			if c == '"' || c == '\'' {
				s, err := p.str()
				if err != nil {
					return e, err
				}
				args = append(args, s)
				continue
			}
			if c >= '0' && c <= '9' || c == '-' || c == '.' {
				start := p.i
				for p.i < len(p.src) && strings.IndexByte("0123456789.-+eE", p.src[p.i]) >= 0 {
					p.i++
				}
				f, err := strconv.ParseFloat(p.src[start:p.i], 64)
				if err != nil {
					return e, p.errAt(start, "%q is not a number in %q", p.src[start:p.i], p.snippet())
				}
				args = append(args, f)
				continue
			}
			if c == '|' || c == '}' || c == '=' || c == '!' || p.atStop() {
				break
			}
			return e, p.errAt(p.i, "unexpected %q after helper %q in %q: quote text arguments, e.g. %s", p.rest(), name, p.snippet(), h.usage)
		}
		cl, ok := h.check(args)
		if !ok {
			return e, p.errAt(at, "%s in %q: write %s", h.want, p.snippet(), h.usage)
		}
		cl.h = h
		e.pipes = append(e.pipes, cl)
		if h.name == "default" {
			e.lenient = true
		}
	}
}

// str reads a quoted string at the cursor; a backslash escapes the next
// character.
func (p *parser) str() (string, error) {
	q, start := p.src[p.i], p.i
	var b strings.Builder
	for p.i++; p.i < len(p.src); p.i++ {
		switch c := p.src[p.i]; c {
		case q:
			p.i++
			return b.String(), nil
		case '\\':
			if p.i+1 < len(p.src) && p.src[p.i+1] != '\n' {
				p.i++
				b.WriteByte(p.src[p.i])
			}
		case '\n':
			return "", p.errAt(start, "unterminated string in %q: add the closing %c", p.snippet(), q)
		default:
			b.WriteByte(c)
		}
	}
	return "", p.errAt(start, "unterminated string in %q: add the closing %c", p.snippet(), q)
}

// operand reads a quoted literal or a path. A path runs to "|", "==", "!="
// or the end of the tag; surrounding spaces are not part of it.
func (p *parser) operand(allowLit bool) (operand, error) {
	p.skipSpace()
	if c := p.peek(); allowLit && (c == '"' || c == '\'') {
		s, err := p.str()
		return operand{kind: opLit, lit: s, raw: s}, err
	}
	start := p.i
	for p.i < len(p.src) && !p.atStop() {
		s := p.src[p.i:]
		if s[0] == '|' || strings.HasPrefix(s, "}}") || strings.HasPrefix(s, "==") || strings.HasPrefix(s, "!=") {
			break
		}
		p.i++
	}
	raw := strings.TrimSpace(p.src[start:p.i])
	if raw == "" {
		if p.atStop() {
			return operand{}, p.unclosed()
		}
		return operand{}, p.errAt(start, "a field name is missing in %q, e.g. {{Name}}", p.snippet())
	}
	return p.classify(raw, start)
}

// classify turns a path as written into an operand and records it in Refs.
func (p *parser) classify(raw string, at int) (operand, error) {
	o := operand{raw: raw}
	segs := strings.Split(raw, ".")
	switch {
	case raw[0] == '.':
		name, ok := strings.CutPrefix(raw, ".secrets.")
		if raw == ".secrets" || raw == ".secrets." {
			return o, p.errAt(at, "%q needs a secret name: {{ .secrets.NAME }}", p.snippet())
		}
		if !ok {
			return o, p.errAt(at, "%q in %q: a secret is {{ .secrets.NAME }}; a field has no leading dot", raw, p.snippet())
		}
		if !IsSecretName(name) {
			return o, p.errAt(at, "bad secret name %q in %q: use letters, digits and _, e.g. {{ .secrets.API_KEY }}", name, p.snippet())
		}
		o.kind, o.name = opSecret, name
		p.ref(RefSecret, name)
		return o, nil
	case segs[0] == "blocks":
		if len(segs) < 2 || segs[1] == "" {
			return o, p.errAt(at, "%q needs a block id: {{blocks.<id>.<field>}}", p.snippet())
		}
		o.kind, o.block = opBlock, segs[1]
		segs = segs[2:]
		p.ref(RefBlock, strings.Join(append([]string{o.block}, segs...), "."))
	case segs[0] == "this":
		if p.eachs == 0 {
			return o, p.errAt(at, "%q is only known inside {{#each …}}", p.snippet())
		}
		o.kind = opThis
		segs = segs[1:]
	case raw == "@index":
		if p.eachs == 0 {
			return o, p.errAt(at, "%q is only known inside {{#each …}}", p.snippet())
		}
		o.kind = opIndex
		return o, nil
	default:
		o.kind = opField
		p.ref(RefField, raw)
	}
	o.p = newPath(segs)
	return o, nil
}

func (p *parser) ref(k RefKind, path string) {
	line, col := p.lineCol(p.open)
	p.refs = append(p.refs, Ref{Kind: k, Path: path, Offset: p.open, Line: line, Col: col})
}

// IsSecretName reports whether s may name a secret in {{secret.NAME}}:
// letters, digits and _, not starting with a digit. The secrets file and the
// environment are held to the same rule, so every secret set can be named.
func IsSecretName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
