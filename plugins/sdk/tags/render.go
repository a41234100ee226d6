package tags

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk/suggest"
)

// MissingPolicy says what a tag renders when what it refers to does not exist.
type MissingPolicy int

const (
	// MissingError fails the render with an *UnknownRefError (the default).
	MissingError MissingPolicy = iota
	// MissingBlank renders the tag as "".
	MissingBlank
)

// Scope is what a template renders against.
type Scope struct {
	// Fields is the item: CSV columns, JSON object keys, form fields. Values
	// may nest as map[string]any, []any, map[string]string, []string and
	// []map[string]any; leaves are strings, numbers, bools, time.Time or nil.
	Fields map[string]any
	// Blocks holds the output of each earlier block by block id.
	Blocks map[string]any
	// Secrets looks up a secret by name; nil means there are none.
	Secrets func(name string) (string, bool)
	// Missing says what a reference to nothing renders.
	Missing MissingPolicy
	// Escape, when set, is applied to every tag's output (never to the
	// template's own text): html.EscapeString for an HTML body, for instance.
	Escape func(string) string
}

// UnknownRefError is a tag that refers to a field, block or secret that does
// not exist, with Scope.Missing set to MissingError.
type UnknownRefError struct {
	Ref  Ref
	Hint string // e.g. ` (did you mean "Name"?)`, or ""

	noBlock bool // the block itself has no output, rather than the path in it
}

func (e *UnknownRefError) Error() string {
	what := fmt.Sprintf("unknown %s %q", e.Ref.Kind, e.Ref.Path)
	if e.Ref.Kind == RefBlock {
		if id := e.Ref.BlockID(); !e.noBlock {
			what = fmt.Sprintf("block %q has no output %q", id, strings.TrimPrefix(e.Ref.Path, id+"."))
		} else {
			what = fmt.Sprintf("no output from block %q", id)
		}
	}
	return fmt.Sprintf("%s in %s at %d:%d%s", what, e.Ref.Tag, e.Ref.Line, e.Ref.Col, e.Hint)
}

// RenderError is a value a tag could not handle, such as a date helper given
// something that is not a date.
type RenderError struct {
	Tag       string
	Line, Col int
	Err       error
}

func (e *RenderError) Error() string {
	return fmt.Sprintf("%s at %d:%d: %v", e.Tag, e.Line, e.Col, e.Err)
}

func (e *RenderError) Unwrap() error { return e.Err }

// Render renders the template against s.
func (t *Template) Render(s Scope) (string, error) {
	if !t.tags {
		return t.src, nil
	}
	r := renderer{s: s}
	r.b.Grow(t.size)
	if err := r.run(t.nodes); err != nil {
		return "", err
	}
	return r.b.String(), nil
}

type frame struct {
	elem  any
	index int
}

type renderer struct {
	s      Scope
	b      strings.Builder
	frames []frame // open #each elements, innermost last
}

func (r *renderer) run(nodes []node) error {
	for _, n := range nodes {
		switch n := n.(type) {
		case *textNode:
			r.b.WriteString(n.text)
		case *tagNode:
			v, err := r.cond(&n.c, &n.at, false)
			if err != nil {
				return err
			}
			out := str(v)
			if r.s.Escape != nil {
				out = r.s.Escape(out)
			}
			r.b.WriteString(out)
		case *ifNode:
			v, err := r.cond(&n.c, &n.at, true)
			if err != nil {
				return err
			}
			body := n.els
			if Truthy(v) != n.negate {
				body = n.then
			}
			if err := r.run(body); err != nil {
				return err
			}
		case *eachNode:
			if err := r.each(n); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *renderer) each(n *eachNode) error {
	v, ok := r.resolve(&n.list)
	if !ok {
		v = nil
	}
	count := 0
	body := func(e any, i int) error {
		count++
		r.frames = append(r.frames, frame{e, i})
		err := r.run(n.body)
		r.frames = r.frames[:len(r.frames)-1]
		return err
	}
	switch l := v.(type) {
	case nil:
	case []any:
		for i, e := range l {
			if err := body(e, i); err != nil {
				return err
			}
		}
	case []map[string]any:
		for i, e := range l {
			if err := body(e, i); err != nil {
				return err
			}
		}
	case []string:
		for i, e := range l {
			if err := body(e, i); err != nil {
				return err
			}
		}
	case string:
		// An empty CSV cell is "no items", not a mistake.
		if l != "" {
			return &RenderError{Tag: n.at.tag, Line: n.at.line, Col: n.at.col, Err: fmt.Errorf("%q is text, not a list", n.list.raw)}
		}
	default:
		return &RenderError{Tag: n.at.tag, Line: n.at.line, Col: n.at.col, Err: fmt.Errorf("%q is not a list", n.list.raw)}
	}
	if count == 0 {
		return r.run(n.els)
	}
	return nil
}

// cond evaluates a tag's expression or comparison. In a section opener
// (section true) and in a comparison a missing value is simply empty.
func (r *renderer) cond(c *cond, at *tagPos, section bool) (any, error) {
	section = section || c.op != 0 // a comparison is a test too
	l, err := r.expr(&c.l, at, section)
	if err != nil || c.op == 0 {
		return l, err
	}
	rv, err := r.expr(&c.r, at, section)
	if err != nil {
		return nil, err
	}
	return equal(l, rv) == (c.op == '='), nil
}

func (r *renderer) expr(e *expr, at *tagPos, section bool) (any, error) {
	v, ok := r.resolve(&e.o)
	if !ok {
		if !section && !e.lenient && r.s.Missing == MissingError {
			return nil, r.unknown(&e.o, at)
		}
		v = nil
	}
	for i := range e.pipes {
		c := &e.pipes[i]
		var err error
		if v, err = c.h.fn(v, c); err != nil {
			if e.o.kind == opSecret {
				// Helpers quote the value they could not use; a
				// secret's must not reach an error message.
				err = fmt.Errorf("helper %q cannot use the value of secret %s (not shown here)", c.h.name, e.o.name)
			}
			return nil, &RenderError{Tag: at.tag, Line: at.line, Col: at.col, Err: err}
		}
	}
	return v, nil
}

func (r *renderer) resolve(o *operand) (any, bool) {
	switch o.kind {
	case opLit:
		return o.lit, true
	case opField:
		// Exact names everywhere before case-insensitive ones anywhere, so
		// an outer {{Name}} is not taken by an element's "name".
		for _, fold := range [2]bool{false, true} {
			for i := len(r.frames) - 1; i >= 0; i-- {
				if v, ok := o.p.lookup(r.frames[i].elem, 0, fold); ok {
					return v, true
				}
			}
			if v, ok := o.p.lookup(r.s.Fields, 0, fold); ok {
				return v, true
			}
		}
		return nil, false
	case opBlock:
		b, ok := r.s.Blocks[o.block]
		if !ok {
			return nil, false
		}
		return o.p.lookupFold(b)
	case opSecret:
		if r.s.Secrets == nil {
			return nil, false
		}
		return r.s.Secrets(o.name)
	case opThis:
		if len(r.frames) == 0 {
			return nil, false
		}
		return o.p.lookupFold(r.frames[len(r.frames)-1].elem)
	case opIndex:
		if len(r.frames) == 0 {
			return nil, false
		}
		return r.frames[len(r.frames)-1].index, true
	}
	return nil, false
}

func (r *renderer) unknown(o *operand, at *tagPos) error {
	ref := Ref{Path: o.raw, Tag: at.tag, Offset: at.off, Line: at.line, Col: at.col}
	var known []string
	switch o.kind {
	case opField, opThis:
		ref.Kind = RefField
		known = keys(r.s.Fields)
		if len(r.frames) > 0 {
			if m, ok := r.frames[len(r.frames)-1].elem.(map[string]any); ok {
				known = append(known, keys(m)...)
			}
		}
	case opBlock:
		ref.Kind, ref.Path = RefBlock, strings.TrimPrefix(o.raw, "blocks.")
		if b, ok := r.s.Blocks[o.block]; ok {
			if m, ok := b.(map[string]any); ok {
				known = keys(m)
			}
		} else {
			known = keys(r.s.Blocks)
			o = &operand{raw: o.block}
		}
	case opSecret:
		ref.Kind, ref.Path = RefSecret, o.name
	}
	noBlock := o.kind == opLit
	last := o.raw
	if o.kind == opField || o.kind == opBlock {
		if n := len(o.p.segs); n > 0 {
			last = o.p.segs[n-1]
		}
	}
	return &UnknownRefError{Ref: ref, Hint: suggest.DidYouMean(last, known), noBlock: noBlock}
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Field finds the field name in fields as a tag does: exactly, or else
// ignoring case. It returns the key the field has, so that a caller that
// replaces the value (a list read from JSON text) replaces that one.
func Field(fields map[string]any, name string) (key string, v any, ok bool) {
	if v, ok := fields[name]; ok {
		return name, v, true
	}
	for k, v := range fields {
		if strings.EqualFold(k, name) {
			return k, v, true
		}
	}
	return "", nil, false
}

// lookupFold looks v up exactly, then case-insensitively.
func (p *path) lookupFold(v any) (any, bool) {
	if r, ok := p.lookup(v, 0, false); ok {
		return r, true
	}
	return p.lookup(v, 0, true)
}

// lookup follows the path from segment i on inside v. At each level the
// longest run of segments that is a key wins, so a literal "a.b" key beats
// a nested "a" → "b". With fold, a key that matches case-insensitively is
// taken where no exact one leads anywhere.
func (p *path) lookup(v any, i int, fold bool) (any, bool) {
	if i == len(p.segs) {
		return v, true
	}
	switch c := v.(type) {
	case map[string]any:
		for k := len(p.keys[i]) - 1; k >= 0; k-- {
			if x, ok := c[p.keys[i][k]]; ok {
				if r, ok := p.lookup(x, i+k+1, fold); ok {
					return r, true
				}
			}
		}
		if !fold {
			break
		}
		for k := len(p.keys[i]) - 1; k >= 0; k-- {
			for name, x := range c {
				if strings.EqualFold(name, p.keys[i][k]) {
					if r, ok := p.lookup(x, i+k+1, fold); ok {
						return r, true
					}
				}
			}
		}
	case map[string]string:
		key := strings.Join(p.segs[i:], ".")
		if x, ok := c[key]; ok {
			return x, true
		}
		if !fold {
			break
		}
		for name, x := range c {
			if strings.EqualFold(name, key) {
				return x, true
			}
		}
	case []any:
		if n := p.idx[i]; n >= 0 && n < len(c) {
			return p.lookup(c[n], i+1, fold)
		}
	case []map[string]any:
		if n := p.idx[i]; n >= 0 && n < len(c) {
			return p.lookup(c[n], i+1, fold)
		}
	case []string:
		if n := p.idx[i]; n >= 0 && n < len(c) && i+1 == len(p.segs) {
			return c[n], true
		}
	}
	return nil, false
}

// Truthy reports whether v counts as true in {{#if}}: anything but nil,
// false, zero, an empty string, list or map, and the words "false", "no"
// and "0" (in any case, surrounding spaces ignored).
func Truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		x = strings.TrimSpace(x)
		return x != "" && x != "0" && !strings.EqualFold(x, "false") && !strings.EqualFold(x, "no")
	case bool:
		return x
	case int:
		return x != 0
	case int64:
		return x != 0
	case float64:
		return x != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	case []string:
		return len(x) > 0
	case []map[string]any:
		return len(x) > 0
	}
	return Truthy(str(v))
}

// equal compares as text, and as numbers when both sides are numbers, so
// "1.0" == 1.
func equal(a, b any) bool {
	sa, sb := str(a), str(b)
	if sa == sb {
		return true
	}
	fa, err := strconv.ParseFloat(strings.TrimSpace(sa), 64)
	if err != nil {
		return false
	}
	fb, err := strconv.ParseFloat(strings.TrimSpace(sb), 64)
	return err == nil && fa == fb
}

// str is how a value is written into the output.
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case json.Number:
		return string(x)
	case time.Time:
		return x.Format(time.RFC3339)
	case []byte:
		return string(x)
	case fmt.Stringer:
		return x.String()
	case map[string]any, []any, map[string]string, []string, []map[string]any:
		b, err := json.Marshal(x)
		if err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}
