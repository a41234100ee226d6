package workflow

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// MaxFileBytes is the largest workflow file Load reads. A workflow names
// its data (a CSV, a JSON file) rather than holding it, so a real one is a
// few kilobytes; the limit is checked before the file is parsed.
const MaxFileBytes = 1 << 20

// MaxBlocks is the most blocks a workflow may have (the source not
// counted). Each block is a plugin instance the engine starts for a run,
// so this also bounds the instances one workflow starts. Load checks it
// before it builds or validates anything.
const MaxBlocks = 200

// Limits on the values a file may expand to. YAML aliases repeat a value
// wherever they are used, and every value is kept with its JSON pointer, the
// keys on the way to it, for the positions of problems. Without the limits a
// file of a few hundred bytes makes the loader build gigabytes: a "billion
// laughs" (lists of aliases to lists of aliases), a long key above many
// aliased values, or an alias inside the value it names.
const (
	maxNodes         = 100_000  // values, aliases expanded
	maxDepth         = 100      // maps and lists inside each other
	maxExpandedBytes = 32 << 20 // the text of every value and of its pointer, added up
)

// readLimited reads the file at path, refusing one over MaxFileBytes
// without reading it all.
func readLimited(path string) ([]byte, *Problem) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Problem{File: path, Msg: fmt.Sprintf("cannot read the workflow file: %v", err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, &Problem{File: path, Msg: fmt.Sprintf("cannot read the workflow file: %v", err)}
	}
	if len(data) > MaxFileBytes {
		size := int64(len(data)) // a pipe is read only up to the limit
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		return nil, &Problem{File: path, Msg: fmt.Sprintf("the workflow file is %s, more than the %d MiB a workflow file may be; keep data in the source's files, not in the workflow",
			mebibytes(size), MaxFileBytes>>20)}
	}
	return data, nil
}

// mebibytes formats a size over the limit: in MiB, or in bytes when MiB
// would round to the limit itself.
func mebibytes(n int64) string {
	if n < 2<<20 {
		if n == MaxFileBytes+1 {
			return fmt.Sprintf("more than %d bytes", MaxFileBytes)
		}
		return fmt.Sprintf("%d bytes", n)
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}

// blockCount reports a blocks: list longer than MaxBlocks, at its key,
// before any value is built.
func (l *loader) blockCount(root *yaml.Node) bool {
	if root.Kind != yaml.MappingNode {
		return true
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value != "blocks" {
			continue
		}
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if v.Kind == yaml.SequenceNode && len(v.Content) > MaxBlocks {
			l.add(k.Line, k.Column, "blocks: %d blocks, more than the %d a workflow may have; split the work into several workflows", len(v.Content), MaxBlocks)
			return false
		}
	}
	return true
}

// room counts a value against maxNodes and maxExpandedBytes, and reports
// the first limit the file goes over.
func (l *loader) room(n *yaml.Node, ptr string) bool {
	if l.full {
		return false
	}
	l.nodes++
	l.expanded += len(ptr) + len(n.Value)
	switch {
	case l.nodes > maxNodes && l.aliased:
		l.add(n.Line, n.Column, "the file expands to more than %d values, through YAML aliases; write it out plainly", maxNodes)
	case l.nodes > maxNodes:
		l.add(n.Line, n.Column, "the file holds more than %d values; a workflow needs far fewer: keep data in the source's files, not in the workflow", maxNodes)
	case l.expanded > maxExpandedBytes && l.aliased:
		l.add(n.Line, n.Column, "the file expands to more than %d MiB of keys and values, through YAML aliases or long keys above many values; write it out plainly with shorter keys",
			maxExpandedBytes>>20)
	case l.expanded > maxExpandedBytes:
		l.add(n.Line, n.Column, "the file's values, each with the keys above it, add up to more than %d MiB: use shorter keys", maxExpandedBytes>>20)
	default:
		return true
	}
	l.full = true
	return false
}

// enter starts building a map or a list, within maxDepth; leave ends it.
func (l *loader) enter(n *yaml.Node) bool {
	if l.depth >= maxDepth {
		how := ""
		if l.aliased {
			how = " (YAML aliases expanded)"
		}
		l.add(n.Line, n.Column, "values nest more than %d maps and lists deep%s; a workflow needs far fewer: flatten this value", maxDepth, how)
		l.full = true
		return false
	}
	l.depth++
	l.open[n] = true
	return true
}

func (l *loader) leave(n *yaml.Node) {
	l.depth--
	delete(l.open, n)
}
