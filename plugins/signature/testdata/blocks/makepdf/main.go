// Command makepdf is a step block for the signature block's tests: it
// stores one small real PDF per item, as the template block does, so the
// signature block has a document to have signed.
package main

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/go-pdf/fpdf"

	"github.com/paperflow/paperflow/plugins/sdk"
)

type block struct{ host sdk.Host }

func (*block) Describe() sdk.Descriptor {
	return sdk.Descriptor{
		Name: "makepdf", Kind: sdk.KindStep, Version: "0.0.1", Description: "test step: one PDF per item",
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
		data, err := Contract(it.ID)
		if err == nil {
			var d sdk.Document
			d, err = b.host.PutDocument(ctx, "Contract "+it.ID+".pdf", "application/pdf", data)
			out[i].Documents = []sdk.Document{d}
		}
		out[i].Err = err
	}
	return out
}

// Contract is a one-page PDF for item id.
func Contract(id string) ([]byte, error) {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetFont("Helvetica", "", 14)
	pdf.AddPage()
	pdf.MultiCell(0, 8, "Employment contract number "+id+".\n\nThe parties agree to the terms written here.", "", "L", false)
	var buf bytes.Buffer
	err := pdf.Output(&buf)
	return buf.Bytes(), err
}

func main() { sdk.Serve(func() sdk.Block { return &block{} }) }
