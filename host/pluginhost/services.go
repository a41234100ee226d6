package pluginhost

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// Services is what the host offers every block through the Host service;
// the engine provides it. Instance identifies the calling block.
type Services interface {
	PutDocument(ctx context.Context, name, mimetype string, data []byte) (sdk.Document, error)
	GetDocument(ctx context.Context, id string) (sdk.Document, []byte, error)
	DocumentURL(id string, ttl time.Duration) (string, error)
	// State is the KV bucket behind Host.KV; keys are prefixed per block.
	State() jetstream.KeyValue
	SendMail(ctx context.Context, m sdk.Mail) (string, error)
	Emit(ctx context.Context, in Instance, runID, itemID string, ev sdk.EventData) (string, error)
	Schedule(ctx context.Context, in Instance, key string, at time.Time, payload []byte) error
}

// Instance names one block of one workflow.
type Instance struct {
	Workflow string
	BlockID  string
}
