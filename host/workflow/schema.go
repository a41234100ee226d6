package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/paperflow/paperflow/plugins/sdk/suggest"
	"github.com/paperflow/paperflow/schemas"
)

// schema is a compiled JSON Schema with its source, which messages read to
// list the keys an object may have.
type schema struct {
	s   *jsonschema.Schema
	raw any
}

const workflowSchemaURL = "https://paperflow.dev/schemas/workflow.schema.json"

var workflowSchema = sync.OnceValues(func() (*schema, error) {
	src, err := schemas.FS.ReadFile("workflow.schema.json")
	if err != nil {
		return nil, err
	}
	return compileSchema(workflowSchemaURL, src)
})

// blockSchemas caches compiled configuration schemas by their text, so
// validating many files compiles each block's schema once.
var blockSchemas sync.Map // string → *schema

func blockSchema(uses string, src []byte) (*schema, error) {
	if len(bytes.TrimSpace(src)) == 0 {
		src = []byte(`{"type": ["object", "null"]}`)
	}
	key := uses + "\x00" + string(src)
	if s, ok := blockSchemas.Load(key); ok {
		return s.(*schema), nil
	}
	s, err := compileSchema("https://paperflow.dev/blocks/"+url.PathEscape(uses)+"/config.schema.json", src)
	if err != nil {
		return nil, err
	}
	blockSchemas.Store(key, s)
	return s, nil
}

func compileSchema(u string, src []byte) (*schema, error) {
	var raw any
	if err := json.Unmarshal(src, &raw); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	// Both formats need the workflow around the value: Load checks them.
	always := func(any) bool { return true }
	c.Formats["file-path"] = always
	c.Formats["block-ref"] = always
	c.LoadURL = func(s string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("%s: a schema here must be self-contained", s)
	}
	if err := c.AddResource(u, bytes.NewReader(src)); err != nil {
		return nil, err
	}
	s, err := c.Compile(u)
	if err != nil {
		return nil, err
	}
	return &schema{s: s, raw: raw}, nil
}

// issue is one schema violation, located by a JSON pointer into the value.
type issue struct {
	ptr   string // relative to the validated value
	atKey bool   // point at the key rather than the value
	obj   bool   // the message is about the object at ptr's parent (unknown key)
	kw    string // the failing keyword
	msg   string
}

// validate returns the violations of v, one per failing keyword, in readable
// words.
func (s *schema) validate(v any) []issue {
	err := s.s.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []issue{{msg: err.Error()}}
	}
	var out []issue
	for _, e := range SchemaLeaves(ve) {
		out = append(out, s.describe(e, v)...)
	}
	return out
}

// SchemaLeaves are the causes at the ends of a validation error's tree:
// each names one failing keyword at one place in the value, the level at
// which a message can tell a person what to change.
func SchemaLeaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, SchemaLeaves(c)...)
	}
	return out
}

var lengths = regexp.MustCompile(`(\d+), but got (\d+)$`)

var quoted = regexp.MustCompile(`'((?:[^'\\]|\\.)*)'`)

// names reads the property names jsonschema quotes in a message.
func names(msg string) []string {
	var ns []string
	for _, m := range quoted.FindAllStringSubmatch(msg, -1) {
		ns = append(ns, strings.ReplaceAll(m[1], `\'`, `'`))
	}
	sort.Strings(ns)
	return ns
}

var typeWords = map[string]string{
	"object":  "a map (key: value lines)",
	"array":   "a list (- item lines)",
	"string":  "text",
	"number":  "a number",
	"integer": "a whole number",
	"boolean": "true or false",
	"null":    "empty",
}

// patternHints explain the patterns of the workflow schema in words.
var patternHints = map[string]string{
	"^[a-z0-9][a-z0-9_-]*$":  `use lowercase letters, digits, "-" and "_", starting with a letter or digit`,
	"^[a-z0-9][a-z0-9_.-]*$": `use lowercase letters, digits, "-", "_" and ".", starting with a letter or digit`,
}

func (s *schema) describe(e *jsonschema.ValidationError, root any) []issue {
	kw := e.KeywordLocation[strings.LastIndexByte(e.KeywordLocation, '/')+1:]
	loc := e.InstanceLocation
	one := func(msg string) []issue { return []issue{{ptr: loc, kw: kw, msg: msg}} }
	switch kw {
	case "type":
		want, got, ok := strings.Cut(strings.TrimPrefix(e.Message, "expected "), ", but got ")
		if !ok {
			break
		}
		var ws []string
		for _, w := range strings.Split(want, " or ") {
			if w == "null" && len(ws) > 0 {
				continue // "or empty" helps nobody
			}
			ws = append(ws, word(w))
		}
		return one(fmt.Sprintf("must be %s, not %s", strings.Join(ws, " or "), word(got)))
	case "required":
		var out []issue
		for _, n := range names(e.Message) {
			out = append(out, issue{ptr: loc, atKey: true, kw: kw, msg: fmt.Sprintf("missing required key %q", n)})
		}
		return out
	case "additionalProperties", "unevaluatedProperties":
		known := s.propertiesAt(e.AbsoluteKeywordLocation)
		var out []issue
		for _, n := range names(e.Message) {
			msg := fmt.Sprintf("unknown key %q", n)
			if len(known) > 0 {
				msg += suggest.DidYouMean(n, known) + ": known keys are " + strings.Join(known, ", ")
			}
			out = append(out, issue{ptr: ptrJoin(loc, n), atKey: true, obj: true, kw: kw, msg: msg})
		}
		return out
	case "pattern":
		p := strings.TrimSuffix(strings.TrimPrefix(e.Message, "does not match pattern '"), "'")
		msg := "does not match " + p
		if v, ok := valueAt(root, loc); ok {
			msg = fmt.Sprintf("%q %s", v, msg)
		}
		if h, ok := patternHints[p]; ok {
			msg += ": " + h
		}
		return one(msg)
	case "format":
		f := e.Message[strings.LastIndex(e.Message, " is not valid ")+len(" is not valid "):]
		if v, ok := valueAt(root, loc); ok {
			return one(fmt.Sprintf("%q is not a valid %s", v, strings.Trim(f, "'")))
		}
	case "maxLength", "minLength":
		if m := lengths.FindStringSubmatch(e.Message); m != nil {
			limit, got := m[1], m[2]
			bound := "at most"
			if kw == "minLength" {
				bound = "at least"
			}
			unit := "characters"
			if limit == "1" {
				unit = "character"
			}
			return one(fmt.Sprintf("must be %s %s %s long, not %s", bound, limit, unit, got))
		}
	}
	return one(e.Message)
}

func word(t string) string {
	if w, ok := typeWords[t]; ok {
		return w
	}
	return t
}

// propertiesAt lists the properties declared next to the keyword at the
// absolute keyword location kwLoc.
func (s *schema) propertiesAt(kwLoc string) []string {
	_, frag, _ := strings.Cut(kwLoc, "#")
	toks := splitPtr(frag)
	if len(toks) == 0 {
		return nil
	}
	v := s.raw
	for _, t := range toks[:len(toks)-1] {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[t]
	}
	m, _ := v.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	known := make([]string, 0, len(props))
	for k := range props {
		known = append(known, k)
	}
	sort.Strings(known)
	return known
}

// formatValues is what a format applies to in a value: a string alone, or
// each member of a list of them.
func formatValues(x any) []any {
	switch x := x.(type) {
	case string:
		return []any{x}
	case []any:
		return x
	}
	return nil
}

// walkFormats calls visit for every value of v that sch gives the format
// "file-path" or "block-ref", with its JSON pointer. It follows $ref,
// allOf, the branches of anyOf and oneOf that v matches, if/then/else,
// properties and items.
func walkFormats(sch *jsonschema.Schema, v any, ptr string, depth int, visit func(format string, v any, ptr string)) {
	if sch == nil || depth > 32 {
		return
	}
	if sch.Format == "file-path" || sch.Format == "block-ref" {
		visit(sch.Format, v, ptr)
	}
	for _, r := range []*jsonschema.Schema{sch.Ref, sch.DynamicRef, sch.RecursiveRef} {
		walkFormats(r, v, ptr, depth+1, visit)
	}
	for _, a := range sch.AllOf {
		walkFormats(a, v, ptr, depth+1, visit)
	}
	for _, branches := range [][]*jsonschema.Schema{sch.AnyOf, sch.OneOf} {
		for _, b := range branches {
			if b.Validate(v) == nil {
				walkFormats(b, v, ptr, depth+1, visit)
			}
		}
	}
	if sch.If != nil {
		if sch.If.Validate(v) == nil {
			walkFormats(sch.Then, v, ptr, depth+1, visit)
		} else {
			walkFormats(sch.Else, v, ptr, depth+1, visit)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for k, item := range x {
			p := ptrJoin(ptr, k)
			matched := false
			if ps, ok := sch.Properties[k]; ok {
				walkFormats(ps, item, p, depth+1, visit)
				matched = true
			}
			for re, ps := range sch.PatternProperties {
				if re.MatchString(k) {
					walkFormats(ps, item, p, depth+1, visit)
					matched = true
				}
			}
			if ap, ok := sch.AdditionalProperties.(*jsonschema.Schema); ok && !matched {
				walkFormats(ap, item, p, depth+1, visit)
			}
		}
	case []any:
		for i, item := range x {
			p := ptrJoin(ptr, fmt.Sprint(i))
			switch {
			case i < len(sch.PrefixItems):
				walkFormats(sch.PrefixItems[i], item, p, depth+1, visit)
			case sch.Items2020 != nil:
				walkFormats(sch.Items2020, item, p, depth+1, visit)
			}
			switch items := sch.Items.(type) {
			case *jsonschema.Schema:
				walkFormats(items, item, p, depth+1, visit)
			case []*jsonschema.Schema:
				if i < len(items) {
					walkFormats(items[i], item, p, depth+1, visit)
				}
			}
		}
	}
}

// ptrJoin appends one token to a JSON pointer, escaped as jsonschema escapes
// the instance locations it reports.
func ptrJoin(ptr, tok string) string {
	tok = strings.ReplaceAll(tok, "~", "~0")
	tok = strings.ReplaceAll(tok, "/", "~1")
	return ptr + "/" + url.PathEscape(tok)
}

// splitPtr splits a JSON pointer into its unescaped tokens.
func splitPtr(ptr string) []string {
	if ptr == "" || ptr == "/" {
		return nil
	}
	toks := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	for i, t := range toks {
		if u, err := url.PathUnescape(t); err == nil {
			t = u
		}
		t = strings.ReplaceAll(t, "~1", "/")
		toks[i] = strings.ReplaceAll(t, "~0", "~")
	}
	return toks
}
