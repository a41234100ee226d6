// Package block is a step for the sdktest tests: it uses every Host
// service once per item. testdata/echo serves it as a binary.
package block

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
)

type echo struct {
	host     sdk.Host
	greeting string
}

var (
	_ sdk.Step      = (*echo)(nil)
	_ sdk.Scheduler = (*echo)(nil)
)

func (*echo) Describe() sdk.Descriptor {
	return sdk.Descriptor{
		Name: "echo", Kind: sdk.KindStep, Version: "0.0.1", Description: "echoes items for sdktest",
		ConfigSchema: json.RawMessage(`{"type": "object", "properties": {"greeting": {"type": "string"}}, "required": ["greeting"], "additionalProperties": false}`),
		Events:       []string{"DOCUMENTS_CREATED"},
	}
}

func (e *echo) Configure(_ context.Context, c sdk.Config) error {
	var w struct {
		Greeting string `json:"greeting"`
	}
	if err := c.Decode(&w); err != nil {
		return err
	}
	if w.Greeting == "" {
		return fmt.Errorf("greeting is required")
	}
	e.host, e.greeting = c.Host, w.Greeting
	return nil
}

func (e *echo) Process(ctx context.Context, items []sdk.Item) []sdk.Result {
	return sdk.ProcessEach(ctx, items, 1, e.one)
}

func (e *echo) one(ctx context.Context, it sdk.Item) sdk.Result {
	f, err := it.Fields()
	if err != nil {
		return sdk.Result{Err: err}
	}
	name, _ := f["Name"].(string)
	if name == "" {
		return sdk.Result{Err: sdk.Retryable(fmt.Errorf("item %s has no Name", it.ID))}
	}
	text := e.greeting + ", " + name
	doc, err := e.host.PutDocument(ctx, name+".txt", "text/plain", []byte(text))
	if err != nil {
		return sdk.Result{Err: err}
	}
	if _, err := e.host.KVPut(ctx, "seen."+it.ID, []byte(name), 0); err != nil {
		return sdk.Result{Err: err}
	}
	if _, err := e.host.SendMail(ctx, sdk.Mail{To: []string{name + "@example.com"}, Subject: text, IdempotencyKey: it.ID}); err != nil {
		return sdk.Result{Err: err}
	}
	// The event's documents carry only what the schema allows.
	ev, err := sdk.NewEvent("DOCUMENTS_CREATED", map[string]any{"documents": []sdk.Document{{ID: doc.ID, Name: doc.Name, Mimetype: doc.Mimetype, URL: doc.URL}}})
	if err != nil {
		return sdk.Result{Err: err}
	}
	if err := e.host.Schedule(ctx, "remind."+it.ID, time.Unix(1_700_000_000, 0), []byte(it.ID)); err != nil {
		return sdk.Result{Err: err}
	}
	e.host.Log(ctx, "info", "greeted", map[string]any{"item": it.ID})
	return sdk.Result{Outputs: map[string]any{"text": text}, Documents: []sdk.Document{doc}, Events: []sdk.EventData{ev}}
}

// Scheduled emits a later event for the item the callback names.
func (e *echo) Scheduled(ctx context.Context, key string, payload []byte) error {
	ev, err := sdk.NewEvent("SIGNATURES_EXPIRED", map[string]any{"key": key})
	if err != nil {
		return err
	}
	_, err = e.host.Emit(ctx, "test-run", string(payload), ev)
	return err
}

// New returns an unconfigured echo block.
func New() sdk.Block { return &echo{} }
