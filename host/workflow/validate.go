package workflow

import (
	"os"
	"path/filepath"
	"strconv"

	"github.com/paperflow/paperflow/plugins/sdk/jsonvalue"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

func (l *loader) checkSchema(root any) {
	s, err := workflowSchema()
	if err != nil {
		l.add(0, 0, "the workflow schema does not compile: %v", err)
		return
	}
	for _, is := range s.validate(root) {
		l.flagged[is.ptr] = true
		msg := is.msg
		if lbl := l.label(is.ptr, is.obj); lbl != "" {
			msg = lbl + ": " + msg
		}
		l.addAt(is.ptr, is.atKey, msg)
	}
}

// checkConfig validates a block's with: against the block's own schema, and
// the file paths and block references the schema marks.
func (l *loader) checkConfig(spec BlockSpec, uses string, with map[string]any, ptr string, index int, order blockOrder) {
	s, err := blockSchema(uses, spec.ConfigSchema)
	if err != nil {
		l.prob(ptr+"/uses", false, "the configuration schema of %q does not compile, a bug in the block: %v", uses, err)
		return
	}
	var v any = map[string]any{}
	if with != nil {
		v = with
	}
	withPtr := ptr + "/with"
	for _, is := range s.validate(v) {
		// A string with tags is only known per item: its type, pattern,
		// length or format cannot be judged here.
		if x, ok := valueAt(v, is.ptr); ok && !is.atKey {
			if str, ok := x.(string); ok && tags.HasTags(str) {
				continue
			}
		}
		p := withPtr + is.ptr
		if l.flagged[p] {
			continue
		}
		msg := is.msg
		if lbl := l.label(p, is.obj); lbl != "" {
			msg = lbl + ": " + msg
		}
		l.addAt(p, is.atKey, msg)
	}
	walkFormats(s.s, v, "", 0, func(format string, x any, rel string) {
		for i, item := range formatValues(x) {
			str, ok := item.(string)
			if !ok || str == "" || tags.HasTags(str) {
				continue
			}
			p := withPtr + rel
			if _, isList := x.([]any); isList {
				p = ptrJoin(p, strconv.Itoa(i))
			}
			switch format {
			case "file-path":
				path := str
				if !filepath.IsAbs(path) {
					path = filepath.Join(l.dir, path)
				}
				if _, err := os.Stat(path); err != nil {
					l.prob(p, false, "file %q does not exist; paths are relative to the workflow file's folder", str)
				}
			case "block-ref":
				if msg := order.check(str, index); msg != "" {
					l.prob(p, false, "%s", msg)
				}
			}
		}
	})
}

// valueAt returns the value at a JSON pointer inside v.
func valueAt(v any, ptr string) (any, bool) {
	return jsonvalue.At(v, splitPtr(ptr))
}
