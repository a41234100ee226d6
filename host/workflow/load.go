package workflow

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// Load reads, checks and compiles the workflow file at path. It returns the
// workflow, or nil and every problem found, sorted by position.
func Load(path string, cat Catalog, opts ...Option) (*Workflow, Problems) {
	l := &loader{file: path, cat: cat, at: map[string]loc{}, flagged: map[string]bool{}, tpls: map[string]*tags.Template{}, open: map[*yaml.Node]bool{}}
	for _, o := range opts {
		o(&l.opts)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: err.Error()}}
	}
	l.dir = filepath.Dir(abs)
	data, prob := readLimited(path)
	if prob != nil {
		return nil, Problems{*prob}
	}
	l.lines = strings.Split(string(data), "\n")
	l.endLine, l.endCol = endOf(data)

	root, ok := l.parse(data)
	if ok {
		l.checkSchema(root)
		w := l.build(root)
		w.File, w.Dir = abs, l.dir
		if len(l.probs) == 0 {
			return w, nil
		}
	}
	return nil, l.probs.sorted()
}

// loc is where a value is: the key that names it (nil for list items and the
// root) and the value's own node.
type loc struct{ key, val *yaml.Node }

type loader struct {
	file, dir string
	lines     []string
	endLine   int // the position just past the last character
	endCol    int
	cat       Catalog
	opts      options
	probs     Problems
	root      map[string]any
	at        map[string]loc            // JSON pointer → position
	flagged   map[string]bool           // pointers that already have a schema problem
	tpls      map[string]*tags.Template // JSON pointer of a string → its template
	nodes     int                       // values built so far
	expanded  int                       // bytes of text and pointers built so far
	depth     int                       // maps and lists around the value being built
	open      map[*yaml.Node]bool       // maps and lists being built, to catch an alias inside its own value
	full      bool                      // a limit was reached: build no more
	aliased   bool                      // an alias or merge key was expanded: a limit reached since may be its doing
}

func (l *loader) add(line, col int, format string, args ...any) {
	// yaml.v3 places an empty value at the very end of a file (a lone
	// "---", or "key:" without a line break) on the line after the last.
	if line > l.endLine {
		line, col = l.endLine, l.endCol
	}
	l.probs = append(l.probs, Problem{File: l.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

// addAt reports a problem at the value (or key) with the given pointer, or
// at its nearest ancestor that exists in the file.
func (l *loader) addAt(ptr string, atKey bool, msg string) {
	line, col := l.pos(ptr, atKey)
	l.add(line, col, "%s", msg)
}

func (l *loader) pos(ptr string, atKey bool) (int, int) {
	for {
		if lc, ok := l.at[ptr]; ok {
			n := lc.val
			if atKey && lc.key != nil {
				n = lc.key
			}
			return n.Line, n.Column
		}
		if ptr == "" {
			return 1, 1
		}
		ptr = ptr[:strings.LastIndexByte(ptr, '/')]
	}
}

// label names the place of a pointer for a message: `block "send": with.to`,
// `source: with`, `name`. With obj, the place is the pointer's parent (an
// unknown key is a problem of the map that has it).
func (l *loader) label(ptr string, obj bool) string {
	toks := splitPtr(ptr)
	if obj && len(toks) > 0 {
		toks = toks[:len(toks)-1]
	}
	var head string
	switch {
	case len(toks) >= 2 && toks[0] == "blocks":
		head = "blocks[" + toks[1] + "]"
		if i, err := strconv.Atoi(toks[1]); err == nil {
			if bs, ok := l.root["blocks"].([]any); ok && i < len(bs) {
				if bm, ok := bs[i].(map[string]any); ok {
					if id, ok := bm["id"].(string); ok && id != "" {
						head = fmt.Sprintf("block %q", id)
					}
				}
			}
		}
		toks = toks[2:]
	case len(toks) >= 1 && toks[0] == "source":
		head, toks = "source", toks[1:]
	}
	var rest strings.Builder
	for _, t := range toks {
		if _, err := strconv.Atoi(t); err == nil && rest.Len() > 0 {
			rest.WriteString("[" + t + "]")
			continue
		}
		if rest.Len() > 0 {
			rest.WriteByte('.')
		}
		rest.WriteString(t)
	}
	switch {
	case head == "":
		return rest.String()
	case rest.Len() == 0:
		return head
	}
	return head + ": " + rest.String()
}

// prob reports a problem at ptr, its message starting with the place.
func (l *loader) prob(ptr string, atKey bool, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if lbl := l.label(ptr, false); lbl != "" {
		msg = lbl + ": " + msg
	}
	l.addAt(ptr, atKey, msg)
}
