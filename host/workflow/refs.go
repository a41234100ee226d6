package workflow

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/paperflow/paperflow/plugins/sdk/suggest"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// blockOrder knows which block ids come before which.
type blockOrder struct {
	ids   []string
	first map[string]int
}

// check returns what is wrong with block index i using the output of block
// id, or "". i is -1 for the source.
func (o blockOrder) check(id string, i int) string {
	if i < 0 {
		return "the source runs before any block, so it cannot use a block's output"
	}
	j, ok := o.first[id]
	switch {
	case ok && j < i:
		return ""
	case ok && j == i:
		return fmt.Sprintf("block %q cannot use its own output; only earlier blocks' output is available", id)
	case ok:
		return fmt.Sprintf("block %q runs after this one; move it before %q, or use an earlier block", id, o.ids[i])
	}
	var earlier []string
	for _, e := range o.ids[:i] {
		if e != "" {
			earlier = append(earlier, e)
		}
	}
	if len(earlier) == 0 {
		return fmt.Sprintf("there is no block %q, and no block before this one", id)
	}
	return fmt.Sprintf("there is no block %q%s; earlier blocks are %s", id, suggest.DidYouMean(id, earlier), strings.Join(earlier, ", "))
}

// templates parses every string with a tag inside v.
func (l *loader) templates(v any, ptr string, index int, order blockOrder) {
	switch x := v.(type) {
	case map[string]any:
		for k, item := range x {
			l.templates(item, ptrJoin(ptr, k), index, order)
		}
	case []any:
		for i, item := range x {
			l.templates(item, ptrJoin(ptr, strconv.Itoa(i)), index, order)
		}
	case string:
		if tags.HasTags(x) {
			if t := l.template(x, ptr, index, order); t != nil {
				l.tpls[ptr] = t
			}
		}
	}
}

// template parses one string and checks its references; nil on a syntax
// error, which it reports.
func (l *loader) template(src, ptr string, index int, order blockOrder) *tags.Template {
	t, err := tags.Parse(src)
	if err != nil {
		var se *tags.SyntaxError
		if !errors.As(err, &se) {
			l.prob(ptr, false, "%v", err)
			return nil
		}
		line, col := l.tagPos(ptr, src, se.Offset, se.Line, se.Col)
		l.add(line, col, "%s: %s", l.label(ptr, false), se.Msg)
		return nil
	}
	for _, r := range t.Refs() {
		var msg string
		switch r.Kind {
		case tags.RefBlock:
			if m := order.check(r.BlockID(), index); m != "" {
				msg = r.Tag + ": " + m
			}
		case tags.RefSecret:
			if _, ok := l.opts.secrets.Lookup(r.Path); l.opts.check && !ok {
				msg = fmt.Sprintf("%s: secret %q is not set: set the environment variable %s%s or add it to the secrets file", r.Tag, r.Path, SecretEnvPrefix, r.Path)
			}
		case tags.RefField:
			if index < 0 {
				msg = r.Tag + ": the source runs before there is any item, so it cannot use fields; use a fixed value or a secret"
			}
		}
		if msg != "" {
			line, col := l.tagPos(ptr, src, r.Offset, r.Line, r.Col)
			l.add(line, col, "%s: %s", l.label(ptr, false), msg)
		}
	}
	return t
}

// tagPos turns a position inside a YAML string into a position in the file.
// It is exact for one-line plain and quoted strings and for literal blocks
// (|), where the text stands in the file as it is; otherwise, as when an
// escape comes before the tag, it is the string's own position.
func (l *loader) tagPos(ptr, src string, off, line, col int) (int, int) {
	lc, ok := l.at[ptr]
	if !ok {
		return l.pos(ptr, false)
	}
	n := lc.val
	if n.Kind != yaml.ScalarNode {
		return n.Line, n.Column
	}
	// The text of the string from the position to the end of its line, which
	// the file must show at the computed place.
	rest := src[off:]
	if k := strings.IndexByte(rest, '\n'); k >= 0 {
		rest = rest[:k]
	}
	fileLine, fileCol := 0, 0
	switch n.Style {
	case 0, yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if strings.Contains(src, "\n") {
			break
		}
		fileLine, fileCol = n.Line, n.Column+col-1
		if n.Style != 0 {
			fileCol++
		}
	case yaml.LiteralStyle:
		fileLine = n.Line + line
		if fileLine-1 >= len(l.lines) {
			break
		}
		raw := strings.TrimRight(l.lines[fileLine-1], "\r")
		lines := strings.Split(src, "\n")
		if line-1 >= len(lines) {
			break
		}
		own := lines[line-1]
		indent := utf8.RuneCountInString(raw) - utf8.RuneCountInString(own)
		fileCol = indent + col
	}
	if fileLine >= 1 && fileLine <= len(l.lines) && fileCol >= 1 {
		runes := []rune(strings.TrimRight(l.lines[fileLine-1], "\r"))
		if fileCol-1 <= len(runes) && strings.HasPrefix(string(runes[fileCol-1:]), rest) {
			return fileLine, fileCol
		}
	}
	return n.Line, n.Column
}
