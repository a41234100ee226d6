package workflow

import (
	"fmt"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// FileRef is a file a block's configuration names: a value its block's
// schema marks "file-path" (a template, a source's data file). Deploying a
// workflow stores these files with it, so any host can run it.
type FileRef struct {
	Block string // the block id; "" for the source
	Path  string // the value as written, relative to the workflow's Dir unless absolute
	// Tagged is a path holding a tag: it is known only per item, so no
	// single file can be named for it.
	Tagged bool
	// Line and Col locate the value in the workflow file.
	Line, Col int
}

// Files lists the files the source's and the blocks' configurations name,
// found the way Load checks them: through the "file-path" values of each
// block's configuration schema in cat.
func (w *Workflow) Files(cat Catalog) ([]FileRef, error) {
	var out []FileRef
	for _, b := range append([]Block{w.Source}, w.Blocks...) {
		spec, ok := cat.Lookup(b.Uses)
		if !ok {
			return nil, fmt.Errorf("%s:%d:%d: %s uses %q, which is not installed", w.File, b.Line, b.Col, b.Label(), b.Uses)
		}
		s, err := blockSchema(b.Uses, spec.ConfigSchema)
		if err != nil {
			return nil, fmt.Errorf("%s:%d:%d: the configuration schema of %q does not compile: %w", w.File, b.Line, b.Col, b.Uses, err)
		}
		var v any = map[string]any{}
		if b.With != nil {
			v = b.With
		}
		walkFormats(s.s, v, "", 0, func(format string, x any, _ string) {
			if format != "file-path" {
				return
			}
			for _, item := range formatValues(x) {
				if str, ok := item.(string); ok && str != "" {
					out = append(out, FileRef{Block: b.ID, Path: str, Tagged: tags.HasTags(str), Line: b.Line, Col: b.Col})
				}
			}
		})
	}
	return out, nil
}

// Label names a FileRef's block in messages.
func (f FileRef) Label() string { return blockLabel(f.Block) }
