package workflow

import (
	"sort"
	"strconv"
	"strings"

	"github.com/paperflow/paperflow/plugins/sdk/suggest"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// build checks what the schema cannot and compiles the blocks.
func (l *loader) build(root any) *Workflow {
	w := &Workflow{}
	m, _ := root.(map[string]any)
	w.Name, _ = m["name"].(string)
	w.Description, _ = m["description"].(string)

	// Every block id with its first index, for the messages about order.
	var ids []string
	first := map[string]int{}
	list, _ := m["blocks"].([]any)
	for i, item := range list {
		bm, _ := item.(map[string]any)
		id, _ := bm["id"].(string)
		ids = append(ids, id)
		if id == "" {
			continue
		}
		if j, dup := first[id]; dup {
			line, col := l.pos(ptrJoin(ptrJoin("/blocks", strconv.Itoa(j)), "id"), false)
			l.prob(ptrJoin(ptrJoin("/blocks", strconv.Itoa(i)), "id"), false,
				"duplicate block id %q: the block at %d:%d has it already; give each block its own id", id, line, col)
			continue
		}
		first[id] = i
	}
	order := blockOrder{ids: ids, first: first}

	if sm, ok := m["source"].(map[string]any); ok {
		w.Source = l.block(sm, "/source", -1, order)
	}
	for i, item := range list {
		if bm, ok := item.(map[string]any); ok {
			w.Blocks = append(w.Blocks, l.block(bm, ptrJoin("/blocks", strconv.Itoa(i)), i, order))
		}
	}
	l.triggers(m, w)
	return w
}

func (l *loader) block(m map[string]any, ptr string, index int, order blockOrder) Block {
	b := Block{}
	b.ID, _ = m["id"].(string)
	b.Uses, _ = m["uses"].(string)
	b.If, _ = m["if"].(string)
	b.With, _ = m["with"].(map[string]any)
	if lc, ok := l.at[ptr]; ok {
		n := lc.val
		if index < 0 && lc.key != nil {
			n = lc.key
		}
		b.Line, b.Col = n.Line, n.Column
	}
	withPtr := ptr + "/with"

	if b.Uses != "" && !l.flagged[ptr+"/uses"] {
		spec, ok := l.cat.Lookup(b.Uses)
		switch {
		case !ok && brokenBlock(l.cat, b.Uses) != nil:
			l.prob(ptr+"/uses", false, "block %q is installed but cannot be used: %v", b.Uses, brokenBlock(l.cat, b.Uses))
		case !ok:
			names := append([]string(nil), l.cat.Names()...)
			sort.Strings(names)
			if len(names) == 0 {
				l.prob(ptr+"/uses", false, "unknown block %q: no blocks are installed in the plugin directory; build them with `make build` or point --plugins (PAPERFLOW_PLUGIN_DIR) at them", b.Uses)
			} else {
				l.prob(ptr+"/uses", false, "unknown block %q%s: installed blocks are %s", b.Uses, suggest.DidYouMean(b.Uses, names), strings.Join(names, ", "))
			}
		case index < 0 && spec.Kind != KindSource:
			l.prob(ptr+"/uses", false, "%q is a %s block, not a source: use a source here (%s) and put %q under blocks:",
				b.Uses, spec.Kind, strings.Join(l.namesOf(KindSource), ", "), b.Uses)
		case index >= 0 && spec.Kind == KindSource:
			l.prob(ptr+"/uses", false, "%q is a source block: a workflow has one source, under source:; blocks are steps (%s) and sinks (%s)",
				b.Uses, strings.Join(l.namesOf(KindStep), ", "), strings.Join(l.namesOf(KindSink), ", "))
		case spec.Kind != KindSource && spec.Kind != KindStep && spec.Kind != KindSink:
			l.prob(ptr+"/uses", false, "block %q describes itself with an unknown kind %d: this is a bug in the block", b.Uses, spec.Kind)
		default:
			b.Kind = spec.Kind
			if !l.flagged[withPtr] {
				l.checkConfig(spec, b.Uses, b.With, ptr, index, order)
			}
		}
	}

	l.templates(b.With, withPtr, index, order)
	if b.If != "" {
		ifPtr := ptr + "/if"
		b.cond = l.template(b.If, ifPtr, index, order)
		if !tags.HasTags(b.If) && !constant(b.If) {
			l.prob(ifPtr, false, "%q has no tag, so it is the same for every item: write the condition as a tag, e.g. if: '{{Country == \"DE\"}}'", b.If)
		}
	}
	l.switches(&b, m, ptr)
	b.config, b.parts, b.size = compileWith(b.With, withPtr, func(p string) *tags.Template { return l.tpls[p] })
	return b
}

// constant reports whether an if: without tags is meant as a fixed switch.
func constant(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "false", "yes", "no", "0", "1":
		return true
	}
	return false
}

func (l *loader) namesOf(k Kind) []string {
	var out []string
	for _, n := range l.cat.Names() {
		if s, ok := l.cat.Lookup(n); ok && s.Kind == k {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
