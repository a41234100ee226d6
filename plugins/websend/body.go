package websend

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strconv"
	"strings"

	"github.com/paperflow/paperflow/plugins/sdk/jsonvalue"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// bodyPlan says how the body of one event type is made. The zero value
// sends the envelope as published.
type bodyPlan struct {
	// tree is a body written as a YAML mapping or list: always valid JSON.
	tree *bodyNode
	// text is a body written as a string: `body` (JSON text whose
	// inserted values are escaped, checked to be JSON once rendered) or
	// `body_template` (any format, as content_type says).
	text *tags.Template
	// escape: values text inserts are escaped for a JSON string.
	escape bool
	// mustBeJSON: the rendered text is checked to be JSON before sending.
	mustBeJSON bool
}

// envelope reports whether the plan sends the envelope as published.
func (p *bodyPlan) envelope() bool { return p == nil || (p.tree == nil && p.text == nil) }

// bodyNode is one value of a structured body.
type bodyNode struct {
	keys  []string // an object: its keys, sorted (as encoding/json writes them)
	obj   map[string]*bodyNode
	list  []*bodyNode
	isArr bool
	// A leaf: lit when it has no tags; tpl for a string with tags; path
	// for a string that is exactly one tag naming a value, which is
	// inserted with its JSON type (a number stays a number).
	lit  any
	tpl  *tags.Template
	path []string
}

// parseTemplate parses one template of a body or header.
type parseTemplate func(where, src string) *tags.Template

// compileBody compiles the `body` value of a configuration: a string (a
// JSON text template), a mapping or a list.
func compileBody(where string, v any, tpl parseTemplate) (*bodyPlan, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		if strings.TrimSpace(x) == "" {
			return nil, nil
		}
		t := tpl(where, portalVariables(x))
		if t == nil {
			return nil, nil
		}
		if len(t.Refs()) == 0 && !json.Valid([]byte(x)) {
			return nil, fmt.Errorf("%s: not valid JSON; write the body as a YAML mapping, or use body_template with content_type for another format", where)
		}
		return &bodyPlan{text: t, escape: true, mustBeJSON: true}, nil
	case map[string]any, []any:
		n, err := compileNode(where, x, tpl)
		if err != nil {
			return nil, err
		}
		return &bodyPlan{tree: n}, nil
	default:
		return nil, fmt.Errorf("%s: want a mapping, a list or a string", where)
	}
}

func compileNode(where string, v any, tpl parseTemplate) (*bodyNode, error) {
	switch x := v.(type) {
	case map[string]any:
		n := &bodyNode{obj: map[string]*bodyNode{}}
		var errs []error
		for k, item := range x {
			c, err := compileNode(where+"."+k, item, tpl)
			errs = append(errs, err)
			n.obj[k] = c
			n.keys = append(n.keys, k)
		}
		slices.Sort(n.keys)
		return n, errors.Join(errs...)
	case []any:
		n := &bodyNode{isArr: true, list: make([]*bodyNode, len(x))}
		var errs []error
		for i, item := range x {
			c, err := compileNode(where+"["+strconv.Itoa(i)+"]", item, tpl)
			errs = append(errs, err)
			n.list[i] = c
		}
		return n, errors.Join(errs...)
	case string:
		src := portalVariables(x)
		if !tags.HasTags(src) {
			return &bodyNode{lit: x}, nil
		}
		t := tpl(where, src)
		if t == nil {
			return &bodyNode{lit: ""}, nil // reported by tpl
		}
		if p, ok := onePath(t); ok {
			return &bodyNode{path: p}, nil
		}
		return &bodyNode{tpl: t}, nil
	default: // numbers, booleans, null
		return &bodyNode{lit: x}, nil
	}
}

// onePath reports whether t is a single tag that names a field and
// nothing more ("{{data.amount}}", no helper, no text around it), and
// returns the field's path.
func onePath(t *tags.Template) ([]string, bool) {
	refs := t.Refs()
	if len(refs) != 1 || refs[0].Kind != tags.RefField || strings.TrimSpace(t.Source()) != refs[0].Tag {
		return nil, false
	}
	inner := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(refs[0].Tag, "{{"), "}}"))
	if inner != refs[0].Path {
		return nil, false
	}
	return strings.Split(inner, "."), true
}

// render makes the body for one event whose envelope is env.
func (p *bodyPlan) render(env map[string]any, scope tags.Scope) ([]byte, error) {
	// One body may serve several event types: what this event lacks is
	// empty (or null for a value of its own) rather than a failed delivery.
	scope.Missing = tags.MissingBlank
	if p.tree != nil {
		v, err := p.tree.value(env, scope)
		if err != nil {
			return nil, err
		}
		return jsonvalue.Marshal(v)
	}
	if p.escape {
		scope.Escape = jsonEscape
	}
	out, err := p.text.Render(scope)
	if err != nil {
		return nil, err
	}
	if p.mustBeJSON && !json.Valid([]byte(out)) {
		return nil, errors.New("the rendered body is not valid JSON (a value was inserted outside quotes?); write body as a YAML mapping so that every value is encoded for you")
	}
	return []byte(out), nil
}

func (n *bodyNode) value(env map[string]any, scope tags.Scope) (any, error) {
	switch {
	case n.obj != nil:
		out := make(map[string]any, len(n.obj))
		for _, k := range n.keys {
			v, err := n.obj[k].value(env, scope)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case n.isArr:
		out := make([]any, len(n.list))
		for i, c := range n.list {
			v, err := c.value(env, scope)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case n.path != nil:
		v, _ := jsonvalue.At(env, n.path)
		return v, nil
	case n.tpl != nil:
		return n.tpl.Render(scope)
	}
	return n.lit, nil
}

// jsonEscape escapes s for the inside of a JSON string, so that a value a
// tag inserts into a JSON body between quotes stays one string whatever it
// holds (quotes, backslashes, line breaks).
func jsonEscape(s string) string {
	out, _ := jsonvalue.Marshal(s)
	return string(out[1 : len(out)-1])
}

// isJSON reports whether a Content-Type names JSON (application/json or a
// +json type).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// PortalVariables maps the variables of Portal's message templates, as
// `#name`, to the tags they stand for. `#data.<path>` stands for
// {{data.<path>}}.
var PortalVariables = map[string]string{
	"event_type": "{{eventType}}",
	"event_id":   "{{eventId}}",
	"timestamp":  "{{metadata.created_at}}",
	"workflow":   "{{metadata.workflow}}",
	"run_id":     "{{metadata.run_id}}",
	"item_id":    "{{metadata.item_id}}",
	"block_id":   "{{metadata.block_id}}",
}

// portalVariables rewrites the `#name` variables of src (outside tags)
// into tags. A `#` that starts no known variable, or follows a letter or
// digit ("item#3"), stays as written.
func portalVariables(src string) string {
	if !strings.Contains(src, "#") {
		return src
	}
	var b strings.Builder
	depth := 0
	for i := 0; i < len(src); {
		switch {
		case strings.HasPrefix(src[i:], "{{"):
			depth++
			b.WriteString("{{")
			i += 2
			continue
		case strings.HasPrefix(src[i:], "}}") && depth > 0:
			depth--
			b.WriteString("}}")
			i += 2
			continue
		case src[i] == '#' && depth == 0 && (i == 0 || !wordByte(src[i-1])):
			if tag, n := portalVariable(src[i+1:]); n > 0 {
				b.WriteString(tag)
				i += 1 + n
				continue
			}
		}
		b.WriteByte(src[i])
		i++
	}
	return b.String()
}

// portalVariable reads a variable name at the start of s and returns its
// tag and length, or 0.
func portalVariable(s string) (string, int) {
	n := 0
	for n < len(s) && (s[n] == '_' || s[n] >= 'a' && s[n] <= 'z') {
		n++
	}
	if n < len(s) && wordByte(s[n]) && s[n] != '.' {
		return "", 0
	}
	name := s[:n]
	if name == "data" && n < len(s) && s[n] == '.' {
		m := n + 1
		for m < len(s) && (wordByte(s[m]) || s[m] == '.' && m+1 < len(s) && wordByte(s[m+1])) {
			m++
		}
		if m == n+1 {
			return "", 0
		}
		return "{{" + s[:m] + "}}", m
	}
	if tag, ok := PortalVariables[name]; ok && (n == len(s) || s[n] != '.') {
		return tag, n
	}
	return "", 0
}

func wordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
