package workflow

import "github.com/paperflow/paperflow/plugins/sdk/tags"

// disabledCondition is the condition of a disabled step: it runs for no
// item, so the engine skips it as it skips a block whose if: is false.
var disabledCondition = mustParse("false")

func mustParse(src string) *tags.Template {
	t, err := tags.Parse(src)
	if err != nil {
		panic(err)
	}
	return t
}

// switches reads a block's enabled: and backfill: (their types are
// checked by the workflow schema), and checks that a sink's if: names no
// block output (it sees events, not items). A disabled step gets the condition
// "false", after its own if: was checked, so switching a block off and on
// keeps its if: as written. backfill only means something on a sink,
// which holds the events that arrive while it is off.
func (l *loader) switches(b *Block, m map[string]any, ptr string) {
	if on, ok := m["enabled"].(bool); ok && !on {
		b.Disabled = true
	}
	if fill, ok := m["backfill"].(bool); ok {
		b.NoBackfill = !fill
		if b.Kind != 0 && b.Kind != KindSink {
			l.prob(ptr+"/backfill", false, "backfill: only a sink holds events while it is disabled; a %s is skipped for every item while enabled: false, so remove backfill", b.Kind)
		}
	}
	if b.Kind == KindSink && b.cond != nil {
		for _, r := range b.cond.Refs() {
			if r.Kind == tags.RefBlock {
				l.prob(ptr+"/if", false, "%s: a sink's if: is rendered against each event, which has no block outputs; use envelope fields such as {{eventType}}, {{metadata.item_id}} or {{data.documents.0.name}}", r.Tag)
			}
		}
	}
	if b.Disabled && b.Kind != KindSink {
		b.If, b.cond = "false", disabledCondition
	}
}
