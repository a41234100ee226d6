// Command flaky is a step block for the console's tests: it fails every
// item whose field "fail" is "yes" until the file named by `with: marker`
// exists, so a test can fix the cause and retry the item.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// Block fails chosen items until its marker file exists.
type Block struct{ marker string }

var _ sdk.Step = (*Block)(nil)

// Describe says what the block is.
func (*Block) Describe() sdk.Descriptor {
	return sdk.Descriptor{
		Name: "flaky", Kind: sdk.KindStep, Version: "1.0.0",
		Description:  "fails items with fail=yes until a marker file exists",
		ConfigSchema: json.RawMessage(`{"type":"object","additionalProperties":false,"required":["marker"],"properties":{"marker":{"type":"string"}}}`),
	}
}

// Configure reads the marker path.
func (b *Block) Configure(_ context.Context, c sdk.Config) error {
	var w struct{ Marker string }
	if err := json.Unmarshal(c.With, &w); err != nil {
		return err
	}
	b.marker = w.Marker
	return nil
}

// Process fails the chosen items while the marker is missing.
func (b *Block) Process(_ context.Context, items []sdk.Item) []sdk.Result {
	out := make([]sdk.Result, len(items))
	_, err := os.Stat(b.marker)
	fixed := err == nil
	for i, it := range items {
		var f map[string]any
		_ = json.Unmarshal(it.RawFields, &f)
		if f["fail"] == "yes" && !fixed {
			out[i].Err = &sdk.Error{Message: fmt.Sprintf("cannot process %v: the marker is missing", f["name"])}
			continue
		}
		out[i].Outputs = map[string]any{"name": f["name"]}
	}
	return out
}

func main() { sdk.Serve(func() sdk.Block { return &Block{} }) }
