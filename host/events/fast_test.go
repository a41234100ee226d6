package events

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// A schema the fast check cannot handle is still enforced, but every event
// of its type then pays for jsonschema's full walk: extend fastSchema
// rather than let that happen unnoticed.
func TestEverySchemaHasAFastCheck(t *testing.T) {
	t.Parallel()
	v := testValidator(t)
	if v.envelope.fast == nil {
		_, err := newFastSchema(v.envelope.full)
		t.Errorf("envelope.json has no fast check: %v", err)
	}
	for _, typ := range Types {
		if v.byType[typ].fast == nil {
			_, err := newFastSchema(v.byType[typ].full)
			t.Errorf("%s has no fast check: %v", typ, err)
		}
	}
}

// slowValidator is the Validator as it was before the fast check: every
// event goes through jsonschema alone.
func slowValidator(tb testing.TB) *Validator {
	tb.Helper()
	v := testValidator(tb)
	slow := &Validator{envelope: v.envelope, byType: make(map[Type]compiled, len(v.byType))}
	slow.envelope.fast = nil
	for t, c := range v.byType {
		c.fast = nil
		slow.byType[t] = c
	}
	return slow
}

// hostileValues replace a field in turn: every JSON type, empty and
// oversized values, and numbers at the edges of what a float64 holds.
var hostileValues = []any{
	nil, true, false, "", "x", "COMPLETED", "DECLINED", "2026-03-15T10:00:00Z", "https://x.example/a", "a@example.com",
	strings.Repeat("é", 1<<12), strings.Repeat("a", 48), "\x00", "\u2028",
	0.0, 1.0, -1.0, 0.5, 1.5, math.Copysign(0, -1), 1e300, -1e300, 5e-324, float64(1 << 53), float64(1<<53) + 2, 1e21,
	[]any{}, []any{1.0}, []any{"x"}, []any{map[string]any{}},
	map[string]any{}, map[string]any{"a": 1.0}, map[string]any{"status": "DECLINED"},
}

// paths lists every object key and array index in v, parents first, as
// slash-separated paths.
func paths(v any, prefix string) []string {
	var out []string
	switch c := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, prefix+k)
			out = append(out, paths(c[k], prefix+k+"/")...)
		}
	case []any:
		for i, item := range c {
			p := prefix + strconv.Itoa(i)
			out = append(out, p)
			out = append(out, paths(item, p+"/")...)
		}
	}
	return out
}

// mutations are the bad (and some good) events made from each type's
// example: every field replaced by every hostile value, every field
// removed, an extra field in every object, and the type swapped.
func mutations(tb testing.TB) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	add := func(name string, event map[string]any) {
		raw, err := json.Marshal(event)
		if err != nil {
			tb.Fatal(err)
		}
		out[name] = raw
	}
	for _, typ := range Types {
		add(string(typ), exampleEvent(tb, typ))
		for _, p := range paths(exampleEvent(tb, typ), "") {
			for i, value := range hostileValues {
				event := exampleEvent(tb, typ)
				set(p, value)(tb, event)
				add(fmt.Sprintf("%s %s=value %d", typ, p, i), event)
			}
			event := exampleEvent(tb, typ)
			if parent, _ := at(tb, event, p); isObject(parent) {
				del(p)(tb, event)
				add(fmt.Sprintf("%s without %s", typ, p), event)
			}
			event = exampleEvent(tb, typ)
			if child, _ := at(tb, event, p+"/x"); isObject(child) {
				set(p+"/extra", "x")(tb, event)
				add(fmt.Sprintf("%s %s/extra", typ, p), event)
			}
		}
		for _, other := range Types {
			event := exampleEvent(tb, typ)
			set("eventType", string(other))(tb, event)
			add(fmt.Sprintf("%s as %s", typ, other), event)
		}
		event := exampleEvent(tb, typ)
		set("extra", "x")(tb, event)
		add(fmt.Sprintf("%s with an extra envelope field", typ), event)
	}
	return out
}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// The fast check answers exactly as jsonschema does on every mutation, and
// the Validator rejects the same events with the same messages as before.
func TestFastCheckAgreesWithJSONSchema(t *testing.T) {
	t.Parallel()
	v, slow := testValidator(t), slowValidator(t)
	events := mutations(t)
	var accepted, rejected int
	for name, raw := range events {
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		schemas := []compiled{v.envelope}
		if c, ok := v.byType[Type(fmt.Sprint(doc.(map[string]any)["eventType"]))]; ok {
			schemas = append(schemas, c)
		}
		for _, c := range schemas {
			fullErr := c.full.Validate(doc)
			got := c.fast.check(doc, 0)
			if want := verdictOf(fullErr); got != want {
				t.Errorf("%s against %s: fast check says %v, jsonschema %v (%v)", name, c.file, got, want, fullErr)
			}
		}
		newErr, oldErr := v.Validate(raw), slow.Validate(raw)
		if sameOrder(newErr) != sameOrder(oldErr) {
			t.Errorf("%s:\n got: %v\nwant: %v", name, newErr, oldErr)
		}
		if oldErr == nil {
			accepted++
		} else {
			rejected++
		}
	}
	// The mutations must exercise both answers in earnest.
	if accepted < len(Types) || rejected < accepted {
		t.Errorf("%d mutations accepted, %d rejected: the set does not test much", accepted, rejected)
	}
}

// sameOrder is err's message with the names of each additionalProperties
// problem sorted: jsonschema lists them in map order, which varies from
// one call to the next.
func sameOrder(err error) string {
	lines := strings.Split(fmt.Sprint(err), "\n")
	for i, line := range lines {
		head, rest, ok := strings.Cut(line, "additionalProperties ")
		if !ok {
			continue
		}
		names, tail, _ := strings.Cut(rest, " not allowed")
		list := strings.Split(names, ", ")
		sort.Strings(list)
		lines[i] = head + "additionalProperties " + strings.Join(list, ", ") + " not allowed" + tail
	}
	return strings.Join(lines, "\n")
}

func compiledByType(v *Validator) []compiled {
	out := make([]compiled, 0, len(Types))
	for _, typ := range Types {
		out = append(out, v.byType[typ])
	}
	return out
}

func verdictOf(err error) verdict {
	if err == nil {
		return valid
	}
	return invalid
}

func (r verdict) String() string {
	return [...]string{valid: "valid", invalid: "invalid", unsure: "unsure"}[r]
}

func TestIsIntegerAgreesWithJSONSchema(t *testing.T) {
	t.Parallel()
	s := testValidator(t).byType[SignaturesRequested].full
	for _, n := range []float64{
		0, 1, -1, 0.5, 1.5, math.Copysign(0, -1), 1<<52 - 0.5, 1 << 52, 1<<52 + 1, 1 << 53, 1<<53 + 2,
		1e21, 1e300, -1e300, 5e-324, math.MaxFloat64, 4503599627370495.5, 0.1, 1e-7, 123456789.000001,
	} {
		// The schema's recipient order is an integer ≥ 1.
		event := exampleEvent(t, SignaturesRequested)
		set("data/recipients/0/order", n)(t, event)
		raw, _ := json.Marshal(event)
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		fast, _ := newFastSchema(s)
		if got, want := fast.check(doc, 0), verdictOf(s.Validate(doc)); got != want {
			t.Errorf("order %v: fast check %v, jsonschema %v", n, got, want)
		}
	}
}

// FuzzFastCheck sets a field of an example event to a fuzzed JSON value, or
// checks fuzzed JSON as a whole event, and fails when the fast check calls
// valid what jsonschema rejects, or disagrees when it is sure.
func FuzzFastCheck(f *testing.F) {
	f.Add(uint8(0), "data/documents/0/url", `"https://x"`)
	f.Add(uint8(2), "data/recipients/1/order", `2`)
	f.Add(uint8(4), "data/recipients/1", `{"email":"a@b.c","order":1,"status":"PENDING","signature_url":"https://x"}`)
	f.Add(uint8(1), "data/emails/0/cc", `["a@b.c"]`)
	f.Add(uint8(3), "", `{"eventId":"x","eventType":"SIGNATURES_COMPLETED","data":{},"metadata":{}}`)
	f.Add(uint8(5), "metadata/created_at", `"2026-03-15T10:00:00.5+01:00"`)
	v := testValidator(f)
	f.Fuzz(func(t *testing.T, typ uint8, path, value string) {
		var doc any
		if err := json.Unmarshal([]byte(value), &doc); err != nil {
			return
		}
		if path != "" {
			event := exampleEvent(t, Types[int(typ)%len(Types)])
			if !settable(event, path) {
				return
			}
			set(path, doc)(t, event)
			raw, _ := json.Marshal(event)
			doc = nil
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range append([]compiled{v.envelope}, compiledByType(v)...) {
			got, want := c.fast.check(doc, 0), verdictOf(c.full.Validate(doc))
			if got != unsure && got != want {
				t.Fatalf("against %s: fast check says %v, jsonschema %v", c.file, got, want)
			}
		}
	})
}

// settable reports whether set(path) can write into event: every parent
// exists and is an object or an array holding the index.
func settable(event map[string]any, path string) bool {
	var cur any = event
	tokens := strings.Split(path, "/")
	for i, tok := range tokens {
		switch c := cur.(type) {
		case map[string]any:
			if i < len(tokens)-1 {
				cur = c[tok]
			}
		case []any:
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || n >= len(c) {
				return false
			}
			cur = c[n]
		default:
			return false
		}
	}
	return true
}
