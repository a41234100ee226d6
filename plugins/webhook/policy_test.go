package main

import (
	"context"
	"slices"
	"testing"

	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// TestConfigureDeclaresTheSinkPolicy: the block tells the host, in its
// Configure answer, the event types and retry schedule its with: gives, so
// the host reads no block's configuration by convention.
func TestConfigureDeclaresTheSinkPolicy(t *testing.T) {
	for name, c := range map[string]struct {
		with   string
		events []string
		retry  []int64
	}{
		"both":    {`{"url": "https://example.com/", "events": ["EMAILS_CREATED"], "retry": ["5ms", "1h"]}`, []string{"EMAILS_CREATED"}, []int64{5, 3_600_000}},
		"neither": {`{"url": "https://example.com/"}`, nil, nil},
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := sdk.InProcess(&Block{}).Configure(context.Background(), &blockv1.ConfigureRequest{Workflow: "wf", BlockId: "hook", Config: []byte(c.with)})
			if err != nil {
				t.Fatal(err)
			}
			p := resp.GetSink()
			if p == nil || !slices.Equal(p.Events, c.events) || !slices.Equal(p.RetryMs, c.retry) {
				t.Errorf("declared %+v, want events %v, retry %v", p, c.events, c.retry)
			}
		})
	}
	if _, err := sdk.InProcess(&Block{}).Configure(context.Background(), &blockv1.ConfigureRequest{BlockId: "hook", Config: []byte(`{"url": "https://example.com/", "retry": ["soon"]}`)}); err == nil {
		t.Error("a retry that is no duration was accepted")
	}
}
