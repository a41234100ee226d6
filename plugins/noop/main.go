// Command noop is the built-in "noop" block: a step that passes every item
// on unchanged. It is useful to dry-run a source and to measure the cost of
// the block protocol itself (`make bench`).
package main

import (
	"context"
	"encoding/json"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// Block does nothing, fast.
type Block struct{}

var _ sdk.Step = (*Block)(nil)

// Describe says what the block is.
func (*Block) Describe() sdk.Descriptor {
	return sdk.Descriptor{
		Name: "noop", Kind: sdk.KindStep, Version: "1.0.0",
		Description:  "passes items through unchanged",
		ConfigSchema: json.RawMessage(`{"type":"object","additionalProperties":false,"properties":{}}`),
	}
}

// Configure accepts the empty configuration.
func (*Block) Configure(context.Context, sdk.Config) error { return nil }

// Process returns an empty result per item.
func (*Block) Process(_ context.Context, items []sdk.Item) []sdk.Result {
	return make([]sdk.Result, len(items))
}

func main() { sdk.Serve(func() sdk.Block { return &Block{} }) }
