package workflow

import (
	"encoding/json"
	"sort"
	"strconv"

	"github.com/paperflow/paperflow/host/internal/jsontext"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// part is a run of literal JSON followed by the place of one template, if
// any. ResolveWith writes the literal and the rendered template in turn, so
// resolving a block's configuration is string concatenation.
type part struct {
	lit   string
	tpl   *tags.Template
	where string // the template's place in with, e.g. "recipients[0].email"
}

type encoder struct {
	raw   []byte // the whole configuration, tags unresolved
	lit   []byte // literal JSON since the last template
	parts []part
	size  int
	tpl   func(ptr string) *tags.Template
}

// compileWith encodes with as JSON with sorted keys, as encoding/json does,
// and cuts it where tpl has a template for a string's JSON pointer.
func compileWith(with map[string]any, base string, tpl func(ptr string) *tags.Template) (config []byte, parts []part, size int) {
	e := &encoder{tpl: tpl}
	if with == nil {
		with = map[string]any{}
	}
	e.value(with, base, "")
	if len(e.lit) > 0 || len(e.parts) == 0 {
		e.parts = append(e.parts, part{lit: string(e.lit)})
	}
	return e.raw, e.parts, e.size
}

func (e *encoder) write(s ...byte) {
	e.raw = append(e.raw, s...)
	e.lit = append(e.lit, s...)
	e.size += len(s)
}

func (e *encoder) value(v any, ptr, where string) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		e.write('{')
		for i, k := range keys {
			if i > 0 {
				e.write(',')
			}
			e.write(jsontext.AppendString(nil, k)...)
			e.write(':')
			w := k
			if where != "" {
				w = where + "." + k
			}
			e.value(x[k], ptrJoin(ptr, k), w)
		}
		e.write('}')
	case []any:
		e.write('[')
		for i, item := range x {
			if i > 0 {
				e.write(',')
			}
			e.value(item, ptrJoin(ptr, strconv.Itoa(i)), where+"["+strconv.Itoa(i)+"]")
		}
		e.write(']')
	case string:
		q := jsontext.AppendString(nil, x)
		if t := e.tpl(ptr); t != nil {
			e.raw = append(e.raw, q...)
			e.parts = append(e.parts, part{lit: string(e.lit), tpl: t, where: where})
			e.lit = nil
			return
		}
		e.write(q...)
	case int64:
		e.write(strconv.AppendInt(nil, x, 10)...)
	case float64:
		b, err := json.Marshal(x)
		if err != nil { // NaN and infinities were reported by Load
			b = []byte("null")
		}
		e.write(b...)
	case bool:
		e.write(strconv.AppendBool(nil, x)...)
	default:
		e.write([]byte("null")...)
	}
}
