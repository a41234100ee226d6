// Command noop is the built-in "noop" block: a step that passes every item
// on unchanged. It is useful to dry-run a source and to measure the cost of
// the block protocol itself (`make bench`).
package main

import (
	"context"
	_ "embed"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/manifest"
)

// Block does nothing, fast.
type Block struct{}

var _ sdk.Step = (*Block)(nil)

// version is reported by Describe.
const version = "1.0.0"

// blockJSON is the block's manifest: its name, kind, description and the
// JSON Schema of its (empty) `with:`.
//
//go:embed block.json
var blockJSON []byte

// descriptor is what Describe reports.
var descriptor = manifest.MustParse(blockJSON, version)

// Describe implements sdk.Block: block.json and version.
func (*Block) Describe() sdk.Descriptor { return descriptor }

// Configure accepts the empty configuration.
func (*Block) Configure(context.Context, sdk.Config) error { return nil }

// Process returns an empty result per item.
func (*Block) Process(_ context.Context, items []sdk.Item) []sdk.Result {
	return make([]sdk.Result, len(items))
}

func main() { sdk.Serve(func() sdk.Block { return &Block{} }) }
