package pluginhost

import (
	"context"
	"time"

	"google.golang.org/grpc/status"

	"github.com/paperflow/paperflow/host/metrics"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// Embedded is a step block running inside the host process. It skips only
// the process boundary: items are converted exactly as over gRPC.
type Embedded struct {
	workflow, id string
	srv          blockv1.BlockServer
}

var _ Caller = (*Embedded)(nil)

// StartEmbedded configures b in-process. It gets no Host service.
func StartEmbedded(ctx context.Context, spec Spec, b sdk.Block) (*Embedded, error) {
	srv := sdk.InProcess(b)
	if _, err := srv.Configure(ctx, &blockv1.ConfigureRequest{
		Workflow: spec.Workflow, BlockId: spec.BlockID, Config: spec.Config, WorkflowDir: spec.WorkflowDir, PublicUrl: spec.PublicURL,
		Settings: spec.Settings.orFromEnv(),
	}); err != nil {
		return nil, &CallError{Block: spec.BlockID, Op: "configure", Msg: status.Convert(err).Message()}
	}
	return &Embedded{workflow: spec.Workflow, id: spec.BlockID, srv: srv}, nil
}

// Process calls the block directly.
func (e *Embedded) Process(ctx context.Context, items []*blockv1.Item) ([]*blockv1.ItemResult, error) {
	defer metrics.BlockCall(e.workflow, e.id, metrics.CallProcess, time.Now())
	resp, err := e.srv.Process(ctx, &blockv1.ProcessRequest{Items: items})
	if err != nil {
		return nil, &CallError{Block: e.id, Op: "process", Msg: status.Convert(err).Message()}
	}
	return resp.Results, nil
}

// Close does nothing: there is no process.
func (e *Embedded) Close() {}
