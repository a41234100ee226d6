// Command flaky is a step block for the console's tests: it fails every
// item whose field "fail" is "yes" until the file named by `with: marker`
// exists, so a test can fix the cause and retry the item. With `with:
// gate`, such an item, once the marker exists, waits for the gate file
// too: a retry of it stays going until the test opens the gate.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// Block fails chosen items until its marker file exists.
type Block struct{ marker, gate string }

var _ sdk.Step = (*Block)(nil)

// Describe says what the block is.
func (*Block) Describe() sdk.Descriptor {
	return sdk.Descriptor{
		Name: "flaky", Kind: sdk.KindStep, Version: "1.0.0",
		Description:  "fails items with fail=yes until a marker file exists",
		ConfigSchema: json.RawMessage(`{"type":"object","additionalProperties":false,"required":["marker"],"properties":{"marker":{"type":"string"},"gate":{"type":"string"}}}`),
	}
}

// Configure reads the marker path.
func (b *Block) Configure(_ context.Context, c sdk.Config) error {
	var w struct{ Marker, Gate string }
	if err := json.Unmarshal(c.With, &w); err != nil {
		return err
	}
	b.marker, b.gate = w.Marker, w.Gate
	return nil
}

// Process fails the chosen items while the marker is missing, and holds
// them while the gate is closed.
func (b *Block) Process(ctx context.Context, items []sdk.Item) []sdk.Result {
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
		if f["fail"] == "yes" && b.gate != "" && !b.await(ctx) {
			out[i].Err = &sdk.Error{Message: "stopped while the gate was closed", Retryable: true}
			continue
		}
		out[i].Outputs = map[string]any{"name": f["name"]}
	}
	return out
}

// await waits for the gate file; false when ctx ends first.
func (b *Block) await(ctx context.Context) bool {
	for {
		if _, err := os.Stat(b.gate); err == nil {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func main() { sdk.Serve(func() sdk.Block { return &Block{} }) }
