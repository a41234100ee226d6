package send

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/itchyny/gojq"
)

// conditionTimeout bounds one expression, so `repeat(.)` cannot hang a
// delivery.
const conditionTimeout = time.Second

type condition struct {
	any   bool // true: any of exprs; false: all of them
	exprs []*compiledExpr
}

type compiledExpr struct {
	src  string
	code *gojq.Code
}

func compileCondition(c Condition) (*condition, error) {
	list, key := c.All, "all"
	out := &condition{}
	switch {
	case len(c.All) > 0 && len(c.Any) > 0:
		return nil, errors.New("condition: use either all or any, not both")
	case len(c.Any) > 0:
		list, key, out.any = c.Any, "any", true
	case len(c.All) == 0:
		return nil, errors.New("condition: give all: [expressions] or any: [expressions]")
	}
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
	return out, errors.Join(errs...)
}

// match evaluates the condition over the decoded envelope.
func (c *condition) match(ctx context.Context, envelope any) (bool, error) {
	for _, e := range c.exprs {
		ok, err := e.truthy(ctx, envelope)
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
func (e *compiledExpr) truthy(ctx context.Context, v any) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, conditionTimeout)
	defer cancel()
	iter := e.code.RunWithContext(ctx, v)
	out, ok := iter.Next()
	if !ok {
		return false, nil
	}
	if err, isErr := out.(error); isErr {
		return false, fmt.Errorf("condition %q: %v", e.src, err)
	}
	return out != nil && out != false, nil
}
