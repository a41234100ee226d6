package websend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/itchyny/gojq"
)

// conditionTimeout bounds one expression, so that `def f: f; f` or
// `last(repeat(.))` cannot hang a delivery.
const conditionTimeout = time.Second

type condition struct {
	any     bool // true: any of exprs; false: all of them
	exprs   []*compiledExpr
	timeout time.Duration // for each expression: conditionTimeout
}

type compiledExpr struct {
	src  string
	code *gojq.Code
}

func compileCondition(c Condition) (*condition, error) {
	if c.Type != "" || c.Expressions != nil || c.Combinator != "" {
		return compilePortCondition(c)
	}
	list, key := c.All, "all"
	out := &condition{timeout: conditionTimeout}
	switch {
	case len(c.All) > 0 && len(c.Any) > 0:
		return nil, errors.New("condition: use either all or any, not both")
	case len(c.Any) > 0:
		list, key, out.any = c.Any, "any", true
	case len(c.All) == 0:
		return nil, errors.New("condition: give all: [expressions] or any: [expressions]")
	}
	return out, out.compile(list, key)
}

// compilePortCondition compiles Port's shape, {type: JQ, expressions,
// combinator}.
func compilePortCondition(c Condition) (*condition, error) {
	out := &condition{timeout: conditionTimeout}
	switch {
	case len(c.All) > 0 || len(c.Any) > 0:
		return nil, errors.New("condition: use either all/any or Port's type/expressions/combinator, not both")
	case !strings.EqualFold(c.Type, "jq"):
		return nil, fmt.Errorf("condition.type: %q: the only type is JQ", c.Type)
	case len(c.Expressions) == 0:
		return nil, errors.New("condition.expressions: give at least one jq expression")
	}
	switch strings.ToLower(c.Combinator) {
	case "", "and":
	case "or":
		out.any = true
	default:
		return nil, fmt.Errorf("condition.combinator: %q: want and or or", c.Combinator)
	}
	return out, out.compile(c.Expressions, "expressions")
}

// compile parses and compiles the jq expressions of list, found under key.
func (out *condition) compile(list []string, key string) error {
	var errs []error
	for i, src := range list {
		q, err := gojq.Parse(src)
		if err == nil {
			var code *gojq.Code
			if code, err = gojq.Compile(q); err == nil {
				out.exprs = append(out.exprs, &compiledExpr{src: src, code: code})
				continue
			}
		}
		errs = append(errs, fmt.Errorf("condition.%s[%d]: jq expression %q: %v", key, i, src, err))
	}
	return errors.Join(errs...)
}

// match evaluates the condition over the decoded envelope.
func (c *condition) match(ctx context.Context, envelope any) (bool, error) {
	for _, e := range c.exprs {
		ok, err := e.truthy(ctx, envelope, c.timeout)
		if err != nil {
			return false, err
		}
		if ok == c.any {
			return ok, nil // any: first true wins; all: first false loses
		}
	}
	return !c.any, nil
}

// truthy runs the expression and takes its first output the jq way: false
// and null are false, everything else (0 and "" too) is true; no output is
// false.
//
// gojq checks the context between the steps of a program, which stops a
// loop, but not inside one step: squaring a huge number or repeating a
// string a billion times is one step. So the program runs on its own
// goroutine and truthy answers at the timeout even if that step goes on;
// the goroutine stops at its next step.
func (e *compiledExpr) truthy(ctx context.Context, v any, timeout time.Duration) (bool, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan any, 1) // the first output; nil when there is none
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("jq failed: %v", p)
			}
		}()
		out, _ := e.code.RunWithContext(ctx, v).Next()
		done <- out
	}()
	select {
	case out := <-done:
		if err, isErr := out.(error); isErr {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return false, e.stopped(parent, timeout)
			}
			return false, fmt.Errorf("condition %q: %v", e.src, err)
		}
		return out != nil && out != false, nil
	case <-ctx.Done():
		return false, e.stopped(parent, timeout)
	}
}

// stopped says why the expression was stopped: the delivery was cancelled,
// or the expression ran out of time.
func (e *compiledExpr) stopped(parent context.Context, timeout time.Duration) error {
	if err := parent.Err(); err != nil {
		return fmt.Errorf("condition %q: %w", e.src, err)
	}
	return fmt.Errorf("condition %q: still running after %v: a condition must be a quick test; look for a recursion, repeat, range or until that does not end, or for values grown huge", e.src, timeout)
}
