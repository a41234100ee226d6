package sdktest

import (
	"context"
	"encoding/json"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// DocumentStep is a step block that stores one document per item, as the
// template block does, so that the tests of a block that takes documents
// (to attach, to have signed) have some in front of it through the real
// engine. A test block's main serves it:
//
//	func main() {
//		sdk.Serve(func() sdk.Block { return &sdktest.DocumentStep{Name: "makedoc", Make: invoice} })
//	}
type DocumentStep struct {
	// Name is the block's name, the uses: of the test workflows.
	Name string
	// Make gives the document of one item: its file name and content.
	Make func(itemID string) (name string, data []byte, err error)

	host sdk.Host
}

var _ sdk.Step = (*DocumentStep)(nil)

// Describe implements sdk.Block.
func (s *DocumentStep) Describe() sdk.Descriptor {
	return sdk.Descriptor{
		Name: s.Name, Kind: sdk.KindStep, Version: "0.0.1", Description: "test step: one document per item",
		ConfigSchema: json.RawMessage(`{"type":"object","additionalProperties":false}`),
	}
}

// Configure implements sdk.Block.
func (s *DocumentStep) Configure(_ context.Context, c sdk.Config) error {
	s.host = c.Host
	return nil
}

// Process implements sdk.Step: each item gets its document, as a PDF.
func (s *DocumentStep) Process(ctx context.Context, items []sdk.Item) []sdk.Result {
	out := make([]sdk.Result, len(items))
	for i, it := range items {
		name, data, err := s.Make(it.ID)
		if err != nil {
			out[i].Err = err
			continue
		}
		d, err := s.host.PutDocument(ctx, name, "application/pdf", data)
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i].Documents = []sdk.Document{d}
	}
	return out
}
