// Package workflow loads workflow files: it reads the YAML keeping every
// value's position, checks the file against schemas/workflow.schema.json and
// each block's own configuration schema, checks every tag, and compiles the
// `with:` values so that resolving them for an item costs only the rendering.
//
// Load reports every problem at once, each as file:line:col: what and what to
// do, so one `paperflow validate` run is enough to fix a file.
package workflow

import (
	"fmt"
	"strconv"

	"github.com/paperflow/paperflow/host/internal/jsontext"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// Kind is what a block does with items.
type Kind int

const (
	KindSource Kind = iota + 1 // produces items
	KindStep                   // transforms an item, may emit events
	KindSink                   // consumes events
)

func (k Kind) String() string {
	switch k {
	case KindSource:
		return "source"
	case KindStep:
		return "step"
	case KindSink:
		return "sink"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// BlockSpec is what an installed block says about itself (its Describe).
type BlockSpec struct {
	Kind Kind
	// ConfigSchema is the JSON Schema of the block's `with:`. Two formats
	// have a meaning here: "file-path" (a path relative to the workflow file
	// that must exist) and "block-ref" (the id of an earlier block, on a
	// string or on an array of strings). Empty accepts any object.
	ConfigSchema []byte
	// Events lists the event types the block emits.
	Events []string
}

// Catalog is the set of installed blocks.
type Catalog interface {
	// Lookup returns the spec of the block named uses.
	Lookup(uses string) (BlockSpec, bool)
	// Names lists the installed blocks, for messages.
	Names() []string
}

// BrokenBlocks is implemented by catalogs that can say why an installed
// block could not be described (it crashed, it speaks another protocol
// version), so the loader reports that rather than "unknown block".
type BrokenBlocks interface {
	Broken(uses string) error
}

func brokenBlock(c Catalog, uses string) error {
	if b, ok := c.(BrokenBlocks); ok {
		return b.Broken(uses)
	}
	return nil
}

// Workflow is a loaded, checked workflow file.
type Workflow struct {
	Name        string
	Description string
	File        string // absolute path of the workflow file
	Dir         string // its directory: relative paths in `with:` start here
	Source      Block
	Blocks      []Block
	// On is what starts the workflow's items (triggers.go).
	On Triggers
}

// Block returns the block with the given id, or nil.
func (w *Workflow) Block(id string) *Block {
	for i := range w.Blocks {
		if w.Blocks[i].ID == id {
			return &w.Blocks[i]
		}
	}
	return nil
}

// Block is the source or one block of a workflow.
type Block struct {
	ID   string // "" for the source
	Uses string
	Kind Kind
	// With is the block's configuration as JSON values: maps are
	// map[string]any, lists []any, whole numbers int64, other numbers
	// float64. Tags in strings are not resolved.
	With map[string]any
	If   string // the condition template; "" runs always; "false" for a disabled step
	// Disabled is enabled: false. A disabled step is skipped for every
	// item (its If is "false"); a disabled sink delivers nothing and its
	// consumer holds the events that arrive meanwhile.
	Disabled bool
	// NoBackfill is backfill: false on a sink: when enabled again it skips
	// the events held while it was disabled.
	NoBackfill bool
	// Line and Col locate the block in the workflow file.
	Line, Col int

	config []byte         // With as JSON
	parts  []part         // With as JSON, cut where templates go
	size   int            // bytes of literal JSON in parts, a buffer hint
	cond   *tags.Template // the compiled If, nil when empty
}

// ConfigJSON returns With as JSON with its tags unresolved. The caller must
// not modify the result.
func (b *Block) ConfigJSON() []byte { return b.config }

// Static reports whether no string in With has a tag, so ResolveWith gives
// the same result for every item.
func (b *Block) Static() bool {
	return len(b.parts) <= 1 && (len(b.parts) == 0 || b.parts[0].tpl == nil)
}

// ResolveWith renders every tag in With against s and returns the JSON. The
// templates were parsed by Load; a rendered value is inserted as a JSON
// string and never parsed again.
func (b *Block) ResolveWith(s tags.Scope) ([]byte, error) {
	if b.Static() {
		return append([]byte(nil), b.config...), nil
	}
	buf := make([]byte, 0, b.size+64)
	for i := range b.parts {
		p := &b.parts[i]
		buf = append(buf, p.lit...)
		if p.tpl == nil {
			continue
		}
		out, err := p.tpl.Render(s)
		if err != nil {
			return nil, fmt.Errorf("%s: with.%s: %w", b.Label(), p.where, err)
		}
		buf = jsontext.AppendString(buf, out)
	}
	return buf, nil
}

// Runs evaluates the block's `if:` for one item: the block runs when the
// rendered condition is true in the sense of tags.Truthy, and always when
// there is no condition. A condition is a test, so a field the item lacks
// renders empty (false) rather than failing, whatever s.Missing says.
func (b *Block) Runs(s tags.Scope) (bool, error) {
	if b.cond == nil {
		return true, nil
	}
	s.Missing = tags.MissingBlank
	out, err := b.cond.Render(s)
	if err != nil {
		return false, fmt.Errorf("%s: if: %w", b.Label(), err)
	}
	return tags.Truthy(out), nil
}

// Label names the block in messages: `block "send"`, or source.
func (b *Block) Label() string { return blockLabel(b.ID) }

// blockLabel is the name in messages of the block with id ("" for the
// source).
func blockLabel(id string) string {
	if id == "" {
		return "source"
	}
	return "block " + strconv.Quote(id)
}

// Option adjusts Load.
type Option func(*options)

type options struct {
	secrets Secrets
	check   bool // check secret references
}

// WithSecrets makes Load check that every {{ .secrets.NAME }} is set in s.
// Without it secret references are not checked, so a file can be validated
// where its secrets are not available.
func WithSecrets(s Secrets) Option {
	return func(o *options) { o.secrets, o.check = s, true }
}
