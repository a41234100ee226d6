package websend

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuzzTimeout replaces conditionTimeout in the fuzz tests, so that an
// expression that never ends costs each run little.
const fuzzTimeout = 100 * time.Millisecond

// answerSlack is how much later than its timeout a condition may answer on
// a busy machine. One step of a jq program can take far longer than the
// timeout; the answer must not wait for it.
const answerSlack = 2 * time.Second

// FuzzConditionCompile compiles an arbitrary jq expression as a condition,
// and runs what compiles on an envelope. A bad expression is refused with
// an error that says which one and why; a good one answers true, false or
// an error naming it, within its timeout, whatever it does. Seeds are in
// testdata/fuzz/FuzzConditionCompile.
func FuzzConditionCompile(f *testing.F) {
	f.Add(`.data.documents | length > 0`)
	f.Add(`def f: f; f`)
	var envelope0 map[string]any
	if err := json.Unmarshal([]byte(envelope), &envelope0); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := compileCondition(Condition{Any: []string{src}})
		if err != nil {
			prefix := "condition.any[0]: jq expression " + strconv.Quote(src) + ": "
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || len(msg) == len(prefix) {
				t.Fatalf("error %q does not start with %q and say what is wrong", msg, prefix)
			}
			return
		}
		c.timeout = fuzzTimeout
		checkMatch(t, c, src, envelope0)
	})
}

// fuzzConditions are fixed conditions, the usual tests and ones that walk
// the whole envelope, for FuzzConditionEval.
var fuzzConditions = []string{
	`.eventType == "DOCUMENTS_CREATED"`,
	`.data.documents | length > 0`,
	`.data.documents[0].name | test("^Invoice")`,
	`.metadata.workflow == "invoices" and (.data.amount // 0) > 100`,
	`[..] | length > 3`,
	`tojson | length > 10`,
	`[paths] | length > 0`,
	`[.. | strings | select(test("a+b"))] | any`,
	`walk(if type == "array" then sort else . end) | . != null`,
	`[.. | numbers] | add > 0`,
	`(tostream | length) > 0`,
	`. == .`,
}

// FuzzConditionEval runs fixed conditions on arbitrary JSON, decoded as
// the sender decodes an envelope. Every condition answers within its
// timeout, with true, false or an error naming it. Deeper input than JSON
// decoding allows is in TestConditionDeepInput. Seeds are in
// testdata/fuzz/FuzzConditionEval.
func FuzzConditionEval(f *testing.F) {
	f.Add([]byte(envelope), uint8(0))
	conds := make([]*condition, len(fuzzConditions))
	for i, src := range fuzzConditions {
		c, err := compileCondition(Condition{All: []string{src}})
		if err != nil {
			f.Fatalf("%s: %v", src, err)
		}
		c.timeout = fuzzTimeout
		conds[i] = c
	}
	f.Fuzz(func(t *testing.T, input []byte, which uint8) {
		var v any
		if json.Unmarshal(input, &v) != nil {
			return // the sender does not get this far
		}
		i := int(which) % len(conds)
		checkMatch(t, conds[i], fuzzConditions[i], v)
	})
}

// TestConditionDeepInput runs the fixed conditions on values nested far
// deeper than JSON decoding allows.
func TestConditionDeepInput(t *testing.T) {
	const depth = 100_000
	var list any = "leaf"
	var obj any = "leaf"
	for range depth {
		list = []any{list}
		obj = map[string]any{"a": obj}
	}
	for _, v := range []any{list, obj, map[string]any{"data": list, "eventType": "DOCUMENTS_CREATED"}} {
		for _, src := range fuzzConditions {
			c, err := compileCondition(Condition{All: []string{src}})
			if err != nil {
				t.Fatal(err)
			}
			c.timeout = fuzzTimeout
			checkMatch(t, c, src, v)
		}
	}
}

// TestConditionBounded checks conditions that would run forever, or for
// long in one step, answer at the timeout with an error that says so.
func TestConditionBounded(t *testing.T) {
	cases := []string{
		`def f: f; f`,
		`last(repeat(.))`,
		`[repeat(.)] | length > 0`,
		`last(range(1e15))`,
		`until(false; .)`,
		`reduce range(40) as $i (3; . * .) > 0`, // numbers that double in size each step
	}
	for _, src := range cases {
		t.Run(src, func(t *testing.T) {
			c, err := compileCondition(Condition{All: []string{src}})
			if err != nil {
				t.Fatal(err)
			}
			c.timeout = fuzzTimeout
			start := time.Now()
			ok, err := c.match(context.Background(), map[string]any{"eventType": "DOCUMENTS_CREATED"})
			if took := time.Since(start); took > fuzzTimeout+answerSlack {
				t.Errorf("answered after %v", took)
			}
			want := "condition " + strconv.Quote(src) + ": still running after 100ms: a condition must be a quick test"
			if ok || err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("got %v, %v; want an error starting %q", ok, err, want)
			}
		})
	}
}

// TestConditionCancelled checks that a delivery stopped from outside says
// so, rather than blaming the condition.
func TestConditionCancelled(t *testing.T) {
	c, err := compileCondition(Condition{All: []string{`def f: f; f`}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	_, err = c.match(ctx, nil)
	if err == nil || !strings.HasSuffix(err.Error(), "context canceled") {
		t.Errorf("got %v, want context canceled", err)
	}
}

// checkMatch runs c on v: it must answer within its timeout, and an error
// must name the expression.
func checkMatch(t *testing.T, c *condition, src string, v any) {
	t.Helper()
	start := time.Now()
	_, err := c.match(context.Background(), v)
	if took := time.Since(start); took > c.timeout+answerSlack {
		t.Fatalf("%s answered after %v", src, took)
	}
	if err != nil {
		prefix := "condition " + strconv.Quote(src) + ": "
		if msg := err.Error(); !strings.HasPrefix(msg, prefix) || len(msg) == len(prefix) {
			t.Fatalf("error %q does not start with %q and say what is wrong", msg, prefix)
		}
		if strings.Contains(err.Error(), "jq failed") {
			t.Fatalf("jq panicked: %v", err)
		}
	}
}
