package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// Operators of send rules.
const (
	opEquals      = "equals"
	opNotEquals   = "not_equals"
	opContains    = "contains"
	opNotContains = "not_contains"
	opIsEmpty     = "is_empty"
	opIsNotEmpty  = "is_not_empty"
)

// sendRules decide whether an item gets its email, as send rules do in
// document-automation tools: field, operator, value; joined by all (AND)
// or any (OR).
type sendRules struct {
	anyOf bool
	rules []sendRule
}

// sendRule is one compiled rule. The field is read with the tag language's
// lookup (exact name first, then ignoring case; dotted paths; blocks.<id>),
// so it names a field the same way a tag does.
type sendRule struct {
	where string // "when.all[0]", for errors
	field string
	read  *tags.Template
	op    string
}

// compileRules checks the rules as written in `with:`; nil when there are
// none.
func compileRules(w *when) (*sendRules, error) {
	if w == nil {
		return nil, nil
	}
	if len(w.All) > 0 && len(w.Any) > 0 {
		return nil, fmt.Errorf("when: use all or any, not both (nest no further: one list of rules)")
	}
	list, anyOf := w.rules()
	if len(list) == 0 {
		return nil, fmt.Errorf("when: give all: [...] or any: [...] with at least one rule")
	}
	kind := "all"
	if anyOf {
		kind = "any"
	}
	rs := &sendRules{anyOf: anyOf}
	for i, rc := range list {
		where := fmt.Sprintf("when.%s[%d]", kind, i)
		field := strings.TrimSpace(rc.Field)
		if field == "" {
			return nil, fmt.Errorf("%s.field is empty: name an item field, e.g. Country", where)
		}
		if strings.ContainsAny(field, "{}") {
			return nil, fmt.Errorf("%s.field %q: write the field's name without braces (Country, not {{Country}})", where, rc.Field)
		}
		switch rc.Op {
		case opEquals, opNotEquals, opContains, opNotContains:
			if len(rc.Value) == 0 {
				return nil, fmt.Errorf("%s: op %s needs a value", where, rc.Op)
			}
		case opIsEmpty, opIsNotEmpty:
		default:
			return nil, fmt.Errorf("%s.op %q: want equals, not_equals, contains, not_contains, is_empty or is_not_empty", where, rc.Op)
		}
		t, err := tags.Parse("{{" + field + "}}")
		if err != nil {
			return nil, fmt.Errorf("%s.field %q: not a field name: %v", where, rc.Field, err)
		}
		rs.rules = append(rs.rules, sendRule{where: where, field: field, read: t, op: rc.Op})
	}
	return rs, nil
}

// match evaluates the rules for one item. values are the rules' values as
// resolved for the item (tags in a value are filled in by the host), in
// the order of the rules. When the item is not to be sent, why says so.
func (rs *sendRules) match(scope tags.Scope, values []string) (ok bool, why string, err error) {
	scope.Missing = tags.MissingBlank // a missing field is empty, as in a spreadsheet
	scope.Escape = nil
	var failed []string
	for i, r := range rs.rules {
		got, err := r.read.Render(scope)
		if err != nil {
			return false, "", fmt.Errorf("%s: field %s: %v", r.where, r.field, err)
		}
		want := ""
		if i < len(values) {
			want = values[i]
		}
		if r.holds(got, want) {
			if rs.anyOf {
				return true, "", nil
			}
			continue
		}
		failed = append(failed, r.describe(got, want))
		if !rs.anyOf {
			return false, "send rule not met: " + failed[0], nil
		}
	}
	if rs.anyOf {
		return false, "no send rule met: " + strings.Join(failed, "; "), nil
	}
	return true, "", nil
}

func (r sendRule) holds(got, want string) bool {
	switch r.op {
	case opEquals:
		return sameValue(got, want)
	case opNotEquals:
		return !sameValue(got, want)
	case opContains:
		return strings.Contains(fold(got), fold(want))
	case opNotContains:
		return !strings.Contains(fold(got), fold(want))
	case opIsEmpty:
		return strings.TrimSpace(got) == ""
	case opIsNotEmpty:
		return strings.TrimSpace(got) != ""
	}
	return false
}

func (r sendRule) describe(got, want string) string {
	switch r.op {
	case opIsEmpty, opIsNotEmpty:
		return fmt.Sprintf("%s %s (it is %q)", r.field, r.op, got)
	}
	return fmt.Sprintf("%s %s %q (it is %q)", r.field, r.op, want, got)
}

// sameValue compares as people do in a spreadsheet: ignoring letter case
// and surrounding spaces, and as numbers when both sides are numbers.
func sameValue(a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if strings.EqualFold(a, b) {
		return true
	}
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	return errA == nil && errB == nil && fa == fb
}

func fold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
