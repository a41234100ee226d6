package events

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// fastSchema is a compiled event schema reduced to what decides whether a
// value is valid. jsonschema builds a tree of locations and errors as it
// walks, which made validation most of the host's CPU on event-heavy
// pipelines; a valid event — nearly every event — needs none of that. A
// fastSchema answers valid, invalid or unsure without allocating, and the
// Validator asks jsonschema whenever the answer is not valid, so jsonschema
// alone decides what is rejected and words every error. The only thing a
// fastSchema must get right is never to call valid what jsonschema rejects;
// it is built from the compiled schema (the schema files stay the one source
// of truth) and only when every keyword the schema uses is one it knows.
type fastSchema struct {
	always *bool // a true or false schema
	ref    *fastSchema

	types    typeSet
	constant []any // zero or one value
	enum     []any
	format   func(any) bool

	required   []string
	properties map[string]*fastSchema
	// Properties not named in properties: refused when noAdditional,
	// else checked against additional when it is set.
	noAdditional       bool
	additional         *fastSchema
	minProps, maxProps int

	minItems, maxItems       int
	items                    *fastSchema
	contains                 *fastSchema
	minContains, maxContains int

	minLength, maxLength int
	pattern              interface{ MatchString(string) bool }

	// minimum and maximum hold integer bounds small enough to be exact as
	// float64, which is what the schemas use (an order ≥ 1).
	minimum, maximum       float64
	hasMinimum, hasMaximum bool

	not                 *fastSchema
	allOf, anyOf, oneOf []*fastSchema
	ifSchema, then, els *fastSchema
}

// verdict is a fastSchema's answer.
type verdict uint8

const (
	valid verdict = iota
	invalid
	// unsure: a value the fast check does not decide (a number it cannot
	// compare exactly, nesting deeper than maxFastDepth); jsonschema does.
	unsure
)

// maxFastDepth bounds how deep the fast check follows a value before it
// leaves the rest to jsonschema; event data is a few levels deep.
const maxFastDepth = 64

// typeSet is a set of JSON Schema type names as bits.
type typeSet uint8

const (
	typeNull typeSet = 1 << iota
	typeBoolean
	typeObject
	typeArray
	typeNumber
	typeInteger
	typeString
)

var typeNames = map[string]typeSet{
	"null": typeNull, "boolean": typeBoolean, "object": typeObject, "array": typeArray,
	"number": typeNumber, "integer": typeInteger, "string": typeString,
}

// fastFields are the fields of jsonschema.Schema a fastSchema handles or
// that do not affect validity (annotations, anchors only a $dynamicRef or
// $recursiveRef would use, neither of which is handled). Every other field
// must be at its zero value for a fast schema to be built, so a keyword
// added to a schema, or to a later jsonschema, is never silently ignored.
var fastFields = map[string]bool{
	"Location": true, "Draft": true, "RecursiveAnchor": true, "DynamicAnchor": true, "ContainsEval": true,
	"Title": true, "Description": true, "Default": true, "Comment": true, "ReadOnly": true, "WriteOnly": true,
	"Examples": true, "Deprecated": true,

	"Format": true, "Always": true, "Ref": true, "Types": true, "Constant": true, "Enum": true,
	"Not": true, "AllOf": true, "AnyOf": true, "OneOf": true, "If": true, "Then": true, "Else": true,
	"MinProperties": true, "MaxProperties": true, "Required": true, "Properties": true, "AdditionalProperties": true,
	"MinItems": true, "MaxItems": true, "Items2020": true, "Contains": true, "MinContains": true, "MaxContains": true,
	"MinLength": true, "MaxLength": true, "Pattern": true, "Minimum": true, "Maximum": true,
}

// newFastSchema builds the fast form of s, a schema compiled for Draft
// 2020-12 with format assertion on, or says which keyword it does not
// handle.
func newFastSchema(s *jsonschema.Schema) (*fastSchema, error) {
	return (&fastBuilder{done: map[*jsonschema.Schema]*fastSchema{}}).build(s)
}

type fastBuilder struct {
	// done maps each schema to its fast form, so a schema reached by several
	// $refs is built once and a cycle ends.
	done map[*jsonschema.Schema]*fastSchema
}

func (b *fastBuilder) build(s *jsonschema.Schema) (*fastSchema, error) {
	if s == nil {
		return nil, nil
	}
	if f, ok := b.done[s]; ok {
		return f, nil
	}
	if err := onlyFastFields(s); err != nil {
		return nil, err
	}
	f := &fastSchema{
		always: s.Always, required: s.Required,
		minProps: s.MinProperties, maxProps: s.MaxProperties,
		minItems: s.MinItems, maxItems: s.MaxItems, minContains: s.MinContains, maxContains: s.MaxContains,
		minLength: s.MinLength, maxLength: s.MaxLength,
	}
	if s.Pattern != nil {
		f.pattern = s.Pattern
		if m := newASCIIMatcher(s.Pattern); m != nil {
			f.pattern = m
		}
	}
	b.done[s] = f
	for _, name := range s.Types {
		t, ok := typeNames[name]
		if !ok {
			return nil, fmt.Errorf("%s: type %q", s.Location, name)
		}
		f.types |= t
	}
	for _, c := range append(append([]any(nil), s.Constant...), s.Enum...) {
		switch c.(type) {
		case string, bool, nil:
		default:
			return nil, fmt.Errorf("%s: const or enum value %v is not a string, boolean or null", s.Location, c)
		}
	}
	f.constant, f.enum = s.Constant, s.Enum
	if s.Format != "" {
		// With AssertFormat, jsonschema asserts the formats it knows and
		// ignores the others; the Validator's compiler registers none.
		f.format = jsonschema.Formats[s.Format]
	}
	var err error
	if f.minimum, f.hasMinimum, err = exactBound(s.Minimum); err != nil {
		return nil, fmt.Errorf("%s: minimum: %w", s.Location, err)
	}
	if f.maximum, f.hasMaximum, err = exactBound(s.Maximum); err != nil {
		return nil, fmt.Errorf("%s: maximum: %w", s.Location, err)
	}
	switch a := s.AdditionalProperties.(type) {
	case nil:
	case bool:
		f.noAdditional = !a
	case *jsonschema.Schema:
		if f.additional, err = b.build(a); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s: additionalProperties of type %T", s.Location, a)
	}
	if len(s.Properties) > 0 {
		f.properties = make(map[string]*fastSchema, len(s.Properties))
		for name, p := range s.Properties {
			if f.properties[name], err = b.build(p); err != nil {
				return nil, err
			}
		}
	}
	for _, sub := range []struct {
		from *jsonschema.Schema
		to   **fastSchema
	}{
		{s.Ref, &f.ref}, {s.Items2020, &f.items}, {s.Contains, &f.contains}, {s.Not, &f.not},
		{s.If, &f.ifSchema}, {s.Then, &f.then}, {s.Else, &f.els},
	} {
		if *sub.to, err = b.build(sub.from); err != nil {
			return nil, err
		}
	}
	for _, list := range []struct {
		from []*jsonschema.Schema
		to   *[]*fastSchema
	}{{s.AllOf, &f.allOf}, {s.AnyOf, &f.anyOf}, {s.OneOf, &f.oneOf}} {
		for _, sub := range list.from {
			fs, err := b.build(sub)
			if err != nil {
				return nil, err
			}
			*list.to = append(*list.to, fs)
		}
	}
	return f, nil
}

// onlyFastFields reports the first field of s that is set although a
// fastSchema does not handle it.
func onlyFastFields(s *jsonschema.Schema) error {
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		field := v.Type().Field(i)
		if !field.IsExported() || fastFields[field.Name] {
			continue
		}
		if !v.Field(i).IsZero() {
			return fmt.Errorf("%s: %s is not handled by the fast check", s.Location, field.Name)
		}
	}
	return nil
}

// exactBound turns a bound into a float64 when the float compares with
// every decoded number exactly as jsonschema's big.Rat comparison does: an
// integer no larger than 2^53 in magnitude is a float64 exactly, and no
// other float64 rounds onto it.
func exactBound(r *big.Rat) (float64, bool, error) {
	if r == nil {
		return 0, false, nil
	}
	f, exact := r.Float64()
	if !exact || !r.IsInt() || math.Abs(f) > 1<<53 {
		return 0, false, fmt.Errorf("%s is not an integer of at most 2^53", r.RatString())
	}
	return f, true, nil
}

// collectStrings adds to into the property names and string constants of f
// and the schemas under it, each once (seen).
func (f *fastSchema) collectStrings(into map[string]string, seen map[*fastSchema]bool) {
	if f == nil || seen[f] {
		return
	}
	seen[f] = true
	for name, p := range f.properties {
		into[name] = name
		p.collectStrings(into, seen)
	}
	for _, c := range append(append([]any(nil), f.constant...), f.enum...) {
		if s, ok := c.(string); ok {
			into[s] = s
		}
	}
	for _, sub := range []*fastSchema{f.ref, f.additional, f.items, f.contains, f.not, f.ifSchema, f.then, f.els} {
		sub.collectStrings(into, seen)
	}
	for _, list := range [][]*fastSchema{f.allOf, f.anyOf, f.oneOf} {
		for _, sub := range list {
			sub.collectStrings(into, seen)
		}
	}
}

// check reports whether v, as encoding/json decodes into an any, is valid
// against f.
func (f *fastSchema) check(v any, depth int) verdict {
	if depth > maxFastDepth {
		return unsure
	}
	depth++
	if f.always != nil {
		if *f.always {
			return valid
		}
		return invalid
	}
	out := valid
	// note keeps the first invalid, else remembers an unsure.
	note := func(r verdict) bool {
		if r == invalid {
			out = invalid
			return true
		}
		if r == unsure {
			out = unsure
		}
		return false
	}
	if f.types != 0 {
		if note(f.checkType(v)) {
			return invalid
		}
	}
	if len(f.constant) > 0 && v != f.constant[0] {
		return invalid
	}
	if len(f.enum) > 0 && !f.inEnum(v) {
		return invalid
	}
	if f.format != nil && !f.format(v) {
		return invalid
	}
	switch v := v.(type) {
	case map[string]any:
		if note(f.checkObject(v, depth)) {
			return invalid
		}
	case []any:
		if note(f.checkArray(v, depth)) {
			return invalid
		}
	case string:
		if f.minLength != -1 || f.maxLength != -1 {
			n := utf8.RuneCountInString(v)
			if (f.minLength != -1 && n < f.minLength) || (f.maxLength != -1 && n > f.maxLength) {
				return invalid
			}
		}
		if f.pattern != nil && !f.pattern.MatchString(v) {
			return invalid
		}
	case float64:
		if (f.hasMinimum && v < f.minimum) || (f.hasMaximum && v > f.maximum) {
			return invalid
		}
	case nil, bool:
	default:
		// Not what encoding/json decodes into an any.
		return unsure
	}
	if f.ref != nil && note(f.ref.check(v, depth)) {
		return invalid
	}
	if f.not != nil {
		switch f.not.check(v, depth) {
		case valid:
			return invalid
		case unsure:
			out = unsure
		}
	}
	for _, s := range f.allOf {
		if note(s.check(v, depth)) {
			return invalid
		}
	}
	if len(f.anyOf) > 0 && note(anyOf(f.anyOf, v, depth)) {
		return invalid
	}
	if len(f.oneOf) > 0 && note(oneOf(f.oneOf, v, depth)) {
		return invalid
	}
	if f.ifSchema != nil {
		var r verdict
		switch f.ifSchema.check(v, depth) {
		case valid:
			r = f.then.checkIfSet(v, depth)
		case invalid:
			r = f.els.checkIfSet(v, depth)
		default:
			r = unsure
		}
		if note(r) {
			return invalid
		}
	}
	return out
}

// checkIfSet is check for an optional then or else.
func (f *fastSchema) checkIfSet(v any, depth int) verdict {
	if f == nil {
		return valid
	}
	return f.check(v, depth)
}

func (f *fastSchema) checkType(v any) verdict {
	var t typeSet
	switch v := v.(type) {
	case nil:
		t = typeNull
	case bool:
		t = typeBoolean
	case map[string]any:
		t = typeObject
	case []any:
		t = typeArray
	case string:
		t = typeString
	case float64:
		t = typeNumber
		if f.types&typeInteger != 0 && isInteger(v) {
			t |= typeInteger
		}
	default:
		return unsure
	}
	if f.types&t == 0 {
		return invalid
	}
	return valid
}

// isInteger is jsonschema's test for "integer" on a decoded float64: the
// number as fmt prints it, read as a rational, has no fraction. Below
// 2^52, where a float64 may have one, it is the same as the float having
// none; above, it is computed as jsonschema does.
func isInteger(v float64) bool {
	if math.Abs(v) < 1<<52 {
		return v == math.Trunc(v)
	}
	r, ok := new(big.Rat).SetString(fmt.Sprint(v))
	return ok && r.IsInt()
}

func (f *fastSchema) inEnum(v any) bool {
	for _, e := range f.enum {
		// The values are strings, booleans or null (see build), so
		// comparing interfaces is what jsonschema's equals does, and
		// cannot panic.
		if v == e {
			return true
		}
	}
	return false
}

func (f *fastSchema) checkObject(obj map[string]any, depth int) verdict {
	if (f.minProps != -1 && len(obj) < f.minProps) || (f.maxProps != -1 && len(obj) > f.maxProps) {
		return invalid
	}
	for _, name := range f.required {
		if _, ok := obj[name]; !ok {
			return invalid
		}
	}
	out := valid
	for name, value := range obj {
		s, named := f.properties[name]
		switch {
		case named:
		case f.noAdditional:
			return invalid
		case f.additional != nil:
			s = f.additional
		default:
			continue
		}
		switch s.check(value, depth) {
		case invalid:
			return invalid
		case unsure:
			out = unsure
		}
	}
	return out
}

func (f *fastSchema) checkArray(list []any, depth int) verdict {
	if (f.minItems != -1 && len(list) < f.minItems) || (f.maxItems != -1 && len(list) > f.maxItems) {
		return invalid
	}
	out := valid
	if f.items != nil {
		for _, item := range list {
			switch f.items.check(item, depth) {
			case invalid:
				return invalid
			case unsure:
				out = unsure
			}
		}
	}
	if f.contains != nil && (f.minContains != -1 || f.maxContains != -1) {
		matched, unsureItems := 0, 0
		for _, item := range list {
			switch f.contains.check(item, depth) {
			case valid:
				matched++
			case unsure:
				unsureItems++
			}
		}
		switch {
		case f.maxContains == -1 && matched >= f.minContains:
		case unsureItems > 0:
			out = unsure
		case (f.minContains != -1 && matched < f.minContains) || (f.maxContains != -1 && matched > f.maxContains):
			return invalid
		}
	}
	return out
}

func anyOf(schemas []*fastSchema, v any, depth int) verdict {
	out := invalid
	for _, s := range schemas {
		switch s.check(v, depth) {
		case valid:
			return valid
		case unsure:
			out = unsure
		}
	}
	return out
}

func oneOf(schemas []*fastSchema, v any, depth int) verdict {
	matched, unsureN := 0, 0
	for _, s := range schemas {
		switch s.check(v, depth) {
		case valid:
			matched++
		case unsure:
			unsureN++
		}
	}
	switch {
	case matched > 1:
		return invalid
	case unsureN > 0:
		return unsure
	case matched == 1:
		return valid
	}
	return invalid
}
