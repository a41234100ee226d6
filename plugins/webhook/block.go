package main

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/manifest"
	"github.com/paperflow/paperflow/plugins/websend"
)

// Block is the webhook sink.
type Block struct {
	sender *websend.Sender
	policy sdk.SinkPolicy
}

var _ sdk.PolicySink = (*Block)(nil)

// version is reported by Describe.
const version = "1.0.0"

// blockJSON is the block's manifest: its name, kind, description, the
// events it takes and the JSON Schema of its `with:` (websend.Config).
//
//go:embed block.json
var blockJSON []byte

// descriptor is what Describe reports.
var descriptor = manifest.MustParse(blockJSON, version)

// Describe implements sdk.Block: block.json and version.
func (*Block) Describe() sdk.Descriptor { return descriptor }

// Configure checks the configuration (secrets already resolved by the
// host), compiles its templates and jq condition, and takes the host's
// allow-list of private addresses from its settings.
func (b *Block) Configure(_ context.Context, c sdk.Config) error {
	cfg, err := websend.DecodeConfig(c.With)
	if err != nil {
		return fmt.Errorf("block %s: %w", c.BlockID, err)
	}
	allow, err := websend.ParseAllow(c.Settings[sdk.SettingWebhookAllow])
	if err != nil {
		return fmt.Errorf("block %s: %w", c.BlockID, err)
	}
	var gone websend.GoneStore // in memory without a Host
	if c.Host != nil {
		gone = &kvGone{host: c.Host, known: map[string]bool{}}
	}
	s, err := websend.New(cfg, websend.Options{Allow: allow, Gone: gone})
	if err != nil {
		return fmt.Errorf("block %s: %w", c.BlockID, err)
	}
	policy, err := cfg.SinkPolicy()
	if err != nil {
		return fmt.Errorf("block %s: %w", c.BlockID, err)
	}
	b.sender, b.policy = s, policy
	return nil
}

// SinkPolicy tells the host what the configuration's events: and retry:
// say: the types to feed the block (every type when events: is left out;
// the sender then sends the main ones and skips the rest) and the waits
// between attempts (the host's default when retry: is left out).
func (b *Block) SinkPolicy() sdk.SinkPolicy { return b.policy }

// Deliver sends a batch of events.
func (b *Block) Deliver(ctx context.Context, events []sdk.Event) []sdk.Delivery {
	if b.sender == nil {
		out := make([]sdk.Delivery, len(events))
		for i := range out {
			out[i] = sdk.Delivery{Status: sdk.Retry, Reason: `{"reason":"block not configured"}`}
		}
		return out
	}
	return b.sender.Deliver(ctx, events)
}

// kvGone remembers endpoints that answered 410 Gone in Host KV, so that
// every process of this block, now and after a restart, stops sending to
// them. Keys hold a hash of the URL, never the URL (it may hold a secret).
type kvGone struct {
	host  sdk.Host
	mu    sync.Mutex
	known map[string]bool
}

func goneKey(endpoint string) string {
	sum := sha256.Sum256([]byte(endpoint))
	return "gone." + hex.EncodeToString(sum[:16])
}

func (g *kvGone) Gone(ctx context.Context, endpoint string) bool {
	key := goneKey(endpoint)
	g.mu.Lock()
	v, ok := g.known[key]
	g.mu.Unlock()
	if ok {
		return v
	}
	_, _, found, err := g.host.KVGet(ctx, key)
	if err != nil {
		return false // ask again next time
	}
	g.mu.Lock()
	g.known[key] = found
	g.mu.Unlock()
	return found
}

func (g *kvGone) MarkGone(ctx context.Context, endpoint string) error {
	key := goneKey(endpoint)
	g.mu.Lock()
	g.known[key] = true
	g.mu.Unlock()
	_, err := g.host.KVSet(ctx, key, []byte(time.Now().UTC().Format(time.RFC3339)))
	return err
}
