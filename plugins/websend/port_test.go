package websend

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// TestPortCondition: Port's {type: JQ, expressions, combinator} decides as
// the all/any shape it stands for.
func TestPortCondition(t *testing.T) {
	rcv := newReceiver(t, nil)
	yes, no := `.eventType == "DOCUMENTS_CREATED"`, `.metadata.workflow == "other"`
	for _, c := range []struct {
		raw  string
		want sdk.DeliveryStatus
	}{
		{`{"type": "JQ", "expressions": ["` + strings.ReplaceAll(yes, `"`, `\"`) + `"]}`, sdk.Delivered},
		{`{"type": "JQ", "expressions": ["` + strings.ReplaceAll(yes, `"`, `\"`) + `", "` + strings.ReplaceAll(no, `"`, `\"`) + `"], "combinator": "and"}`, sdk.Skipped},
		{`{"type": "JQ", "expressions": ["` + strings.ReplaceAll(yes, `"`, `\"`) + `", "` + strings.ReplaceAll(no, `"`, `\"`) + `"], "combinator": "or"}`, sdk.Delivered},
		{`{"type": "jq", "expressions": ["false", "null"], "combinator": "or"}`, sdk.Skipped},
	} {
		var cond Condition
		if err := json.Unmarshal([]byte(c.raw), &cond); err != nil {
			t.Fatal(err)
		}
		s := newSender(t, Config{URL: rcv.URL, Condition: &cond}, Options{})
		if got := s.Deliver(context.Background(), []sdk.Event{event("e", "DOCUMENTS_CREATED")})[0]; got.Status != c.want {
			t.Errorf("%s: got %v (%s), want %v", c.raw, got.Status, got.Reason, c.want)
		}
	}
	for want, cond := range map[string]Condition{
		"the only type is JQ":                  {Type: "SQL", Expressions: []string{"true"}},
		"condition.expressions: give at least": {Type: "JQ"},
		`"xor": want and or or`:                {Type: "JQ", Expressions: []string{"true"}, Combinator: "xor"},
		"not both":                             {Type: "JQ", Expressions: []string{"true"}, All: []string{"true"}},
		"condition.expressions[0]: jq":         {Type: "JQ", Expressions: []string{".a | nosuchfn"}},
	} {
		if err := CheckCondition(cond); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want %q", cond, err, want)
		}
	}
}
