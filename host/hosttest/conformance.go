package hosttest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/conformance"
	"github.com/paperflow/paperflow/plugins/sdk/sdktest"
)

// Conformance runs the SDK's conformance suite on a built-in block binary
// and then what only the host can check: for each case, the block started
// under the host's supervisor is killed, and the next call finds a new
// process with the instance configured again.
func Conformance(t *testing.T, bin string, cases ...conformance.Case) {
	t.Helper()
	conformance.Run(t, bin, cases...)
	d, err := sdktest.Plugin(t, bin).Describe(context.Background())
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	env := &Env{Dir: t.TempDir(), PluginDir: filepath.Dir(bin), Log: Logger(t, slog.LevelWarn)}
	env.Bus = StartBus(t, env.Dir)
	env.Outbox = mail.Outbox{Dir: filepath.Join(env.Dir, "outbox")}
	env.Engine = env.NewEngine(t, Options{PublicURL: "http://127.0.0.1:1"})
	for i, c := range cases {
		t.Run(fmt.Sprintf("supervised case %d", i), func(t *testing.T) {
			dir := c.WorkflowDir
			if dir == "" {
				dir, _ = os.Getwd()
			}
			with := c.Config
			if with == "" {
				with = "{}"
			}
			blk, err := pluginhost.Start(context.Background(), pluginhost.Spec{
				Instance: pluginhost.Instance{Workflow: "conformance", BlockID: d.Name},
				Uses:     d.Name, Path: bin, Config: []byte(with), WorkflowDir: dir, PublicURL: "http://127.0.0.1:1",
			}, env.Engine, env.Log)
			if err != nil {
				t.Fatalf("start and configure: %v", err)
			}
			defer blk.Close()
			checkRestart(t, blk, d.Kind)
		})
	}
}

// checkRestart kills the block's process and checks the supervisor brings
// a configured one back on the next call.
func checkRestart(t *testing.T, blk *pluginhost.Block, kind sdk.Kind) {
	t.Helper()
	before := blk.Restarts()
	blk.KillProcess()
	ctx := context.Background()
	var err error
	switch kind {
	case sdk.KindStep:
		_, err = blk.Process(ctx, []*blockv1.Item{{Id: "1", RunId: "conformance-run", Origin: "test:1", Fields: []byte(`{}`)}})
	case sdk.KindSink:
		_, err = blk.Deliver(ctx, nil)
	case sdk.KindSource:
		err = blk.Read(ctx, "conformance-run", 0, func([]*blockv1.Item) error { return nil })
	}
	if err != nil {
		t.Fatalf("call after the process was killed: %v", err)
	}
	if blk.Restarts() != before+1 {
		t.Errorf("restarts: got %d, want %d", blk.Restarts(), before+1)
	}
}
