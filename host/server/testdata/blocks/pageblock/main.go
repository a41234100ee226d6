// Command pageblock is a step block for the server's tests: it passes
// items through with an output, and serves a page, GET /settings, that
// shows the host settings and public URL it was configured with.
package main

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/paperflow/paperflow/plugins/sdk"
)

type block struct{ cfg sdk.Config }

var (
	_ sdk.Step   = (*block)(nil)
	_ sdk.Router = (*block)(nil)
)

func (*block) Describe() sdk.Descriptor {
	return sdk.Descriptor{
		Name: "pageblock", Kind: sdk.KindStep, Version: "0.0.1", Description: "server test step with a page",
		ConfigSchema: json.RawMessage(`{"type":"object","additionalProperties":false}`),
	}
}

func (b *block) Configure(_ context.Context, c sdk.Config) error {
	b.cfg = c
	return nil
}

func (b *block) Process(_ context.Context, items []sdk.Item) []sdk.Result {
	out := make([]sdk.Result, len(items))
	for i := range items {
		out[i] = sdk.Result{Outputs: map[string]any{"seen": true}}
	}
	return out
}

// ServeHTTP answers GET /settings with what Configure brought.
func (b *block) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/settings" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"settings": b.cfg.Settings, "public_url": b.cfg.PublicURL})
}

func main() { sdk.Serve(func() sdk.Block { return &block{} }) }
