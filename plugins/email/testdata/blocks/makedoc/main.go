// Command makedoc is a step block for the email block's tests: it stores
// one PDF-like document per item, as the template block will, so the email
// block has something to attach.
package main

import (
	"context"
	"encoding/json"

	"github.com/paperflow/paperflow/plugins/sdk"
)

type block struct{ host sdk.Host }

func (*block) Describe() sdk.Descriptor {
	return sdk.Descriptor{
		Name: "makedoc", Kind: sdk.KindStep, Version: "0.0.1", Description: "test step: one document per item",
		ConfigSchema: json.RawMessage(`{"type":"object","additionalProperties":false}`),
	}
}

func (b *block) Configure(_ context.Context, c sdk.Config) error {
	b.host = c.Host
	return nil
}

func (b *block) Process(ctx context.Context, items []sdk.Item) []sdk.Result {
	out := make([]sdk.Result, len(items))
	for i, it := range items {
		d, err := b.host.PutDocument(ctx, "Invoice "+it.ID+".pdf", "application/pdf", Content(it.ID))
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i].Documents = []sdk.Document{d}
	}
	return out
}

// Content is the document of item id: about 30 KB, the same on every call.
func Content(id string) []byte {
	b := []byte("%PDF-1.4\n% paperflow test document for item " + id + "\n")
	for i := 0; len(b) < 30_000; i++ {
		b = append(b, byte(i*31+len(id)), byte(i>>3))
	}
	return append(b, "\n%%EOF\n"...)
}

func main() { sdk.Serve(func() sdk.Block { return &block{} }) }
