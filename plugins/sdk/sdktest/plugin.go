package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// Build compiles the block main package in dir (a directory, relative to
// the test's working directory) into t.TempDir() and returns the binary's
// path. The binary is named after the block's own Describe name, as the
// host finds blocks by file name. The build runs in dir, so a block in a
// module of its own builds with that module's go.mod.
func Build(t testing.TB, dir string) string {
	t.Helper()
	out := t.TempDir()
	bin, err := BuildInto(out, "block", dir)
	if err != nil {
		t.Fatal(err)
	}
	p := Plugin(t, bin)
	d, err := p.Describe(context.Background())
	p.(*pluginRunner).kill()
	if err != nil {
		t.Fatalf("describe block built from %s: %v", dir, err)
	}
	named := filepath.Join(out, d.Name)
	if err := os.Rename(bin, named); err != nil {
		t.Fatalf("name block binary %q: %v", d.Name, err)
	}
	return named
}

// BuildInto compiles the main package in dir into outDir/name and returns
// the binary's path; for kits that build several blocks once per test
// binary.
func BuildInto(outDir, name, dir string) (string, error) {
	bin, err := filepath.Abs(filepath.Join(outDir, name))
	if err != nil {
		return "", fmt.Errorf("build block %s: %w", name, err)
	}
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build block %s from %s: %w\n%s", name, dir, err, stderr.String())
	}
	return bin, nil
}

// pluginRunner runs instances in one block process, launched as the host
// launches it: go-plugin with the block handshake over gRPC, and each
// instance's Host served back over the GRPCBroker.
type pluginRunner struct {
	client *plugin.Client
	rpc    *sdk.Client
	next   atomic.Uint64
}

// Plugin launches the block binary at bin as a go-plugin process (killed
// when the test ends). Its instances call their Host through the broker,
// as under the real host.
func Plugin(t testing.TB, bin string) Runner {
	t.Helper()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.PluginMap(nil),
		Cmd:              exec.Command(bin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: filepath.Base(bin), Output: Writer(t), Level: hclog.Warn}),
		StartTimeout:     30 * time.Second,
	})
	r := &pluginRunner{client: client}
	t.Cleanup(r.kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start block %s: %v", bin, err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatalf("start block %s: %v", bin, err)
	}
	r.rpc = raw.(*sdk.Client)
	return r
}

func (r *pluginRunner) kill() { r.client.Kill() }

func (r *pluginRunner) Describe(ctx context.Context) (sdk.Descriptor, error) {
	d, err := r.rpc.Block.Describe(ctx, &blockv1.DescribeRequest{})
	if err != nil {
		return sdk.Descriptor{}, unwrap(err)
	}
	return sdk.Descriptor{
		Name: d.Name, Kind: sdk.KindFromProto(d.Kind), Version: d.Version, Description: d.Description,
		ConfigSchema: d.ConfigSchema, Events: d.Events,
	}, nil
}

func (r *pluginRunner) Configure(ctx context.Context, c Config) (Instance, error) {
	c = c.withDefaults()
	in := &remote{r: r, key: fmt.Sprintf("%s/%s/%d", c.Workflow, c.BlockID, r.next.Add(1))}
	broker := r.rpc.Broker
	id := broker.NextId()
	go broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(maxMessageBytes), grpc.MaxSendMsgSize(maxMessageBytes))...)
		blockv1.RegisterHostServer(s, sdk.NewHostServer(c.Host))
		in.serving(s)
		return s
	})
	_, err := r.rpc.Block.Configure(ctx, &blockv1.ConfigureRequest{
		Workflow: c.Workflow, BlockId: c.BlockID, Config: []byte(c.With), WorkflowDir: c.WorkflowDir,
		PublicUrl: c.PublicURL, HostBrokerId: id, Instance: in.key,
	})
	if err != nil {
		in.stopHost()
		return nil, unwrap(err)
	}
	return in, nil
}

// maxMessageBytes matches what the host allows: a document whole.
const maxMessageBytes = 80 << 20

// unwrap turns a gRPC status into an error saying the block's message.
func unwrap(err error) error {
	if s, ok := status.FromError(err); ok {
		return errors.New(s.Message())
	}
	return err
}

// remote is one instance configured in the plugin process.
type remote struct {
	r   *pluginRunner
	key string

	mu      sync.Mutex
	host    *grpc.Server
	stopped bool
}

func (in *remote) serving(s *grpc.Server) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.host = s
	if in.stopped {
		s.Stop()
	}
}

func (in *remote) stopHost() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.stopped = true
	if in.host != nil {
		in.host.Stop()
	}
}

func (in *remote) Process(ctx context.Context, items []sdk.Item) ([]Result, error) {
	req := &blockv1.ProcessRequest{Instance: in.key}
	for _, it := range items {
		req.Items = append(req.Items, sdk.ItemToProto(it))
	}
	resp, err := in.r.rpc.Block.Process(ctx, req)
	if err != nil {
		return nil, unwrap(err)
	}
	out := make([]Result, len(resp.Results))
	for i, p := range resp.Results {
		if out[i], err = resultFromProto(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (in *remote) Read(ctx context.Context, req sdk.ReadRequest) ([]sdk.Item, error) {
	stream, err := in.r.rpc.Block.Read(ctx, &blockv1.ReadRequest{RunId: req.RunID, Skip: req.Skip, Instance: in.key})
	if err != nil {
		return nil, unwrap(err)
	}
	var all []sdk.Item
	for {
		batch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return all, nil
		}
		if err != nil {
			return all, unwrap(err)
		}
		for _, p := range batch.Items {
			all = append(all, sdk.ItemFromProto(p))
		}
	}
}

func (in *remote) Deliver(ctx context.Context, events []sdk.Event) ([]sdk.Delivery, error) {
	req := &blockv1.DeliverRequest{Instance: in.key}
	for _, e := range events {
		req.Events = append(req.Events, &blockv1.Event{Id: e.ID, Type: e.Type, Envelope: e.Envelope, Attempt: e.Attempt})
	}
	resp, err := in.r.rpc.Block.Deliver(ctx, req)
	if err != nil {
		return nil, unwrap(err)
	}
	out := make([]sdk.Delivery, len(resp.Results))
	for i, d := range resp.Results {
		out[i] = sdk.Delivery{Status: sdk.DeliveryStatus(d.Status), RetryAfter: time.Duration(d.RetryAfterMs) * time.Millisecond, Reason: d.Reason}
	}
	return out, nil
}

func (in *remote) Scheduled(ctx context.Context, key string, payload []byte) error {
	_, err := in.r.rpc.Block.Scheduled(ctx, &blockv1.ScheduledRequest{Key: key, Payload: payload, Instance: in.key})
	if err != nil {
		return unwrap(err)
	}
	return nil
}

func (in *remote) Close() {
	_, _ = in.r.rpc.Block.Release(context.Background(), &blockv1.ReleaseRequest{Instance: in.key})
	in.stopHost()
}

func resultFromProto(p *blockv1.ItemResult) (Result, error) {
	r := Result{ItemID: p.ItemId, Err: p.Error, Retryable: p.Retryable, Skipped: p.Skipped}
	if len(p.Outputs) > 0 {
		if err := json.Unmarshal(p.Outputs, &r.Outputs); err != nil {
			return Result{}, fmt.Errorf("item %s: outputs are not a JSON object: %w", p.ItemId, err)
		}
	}
	for _, d := range p.Documents {
		r.Documents = append(r.Documents, sdk.DocumentFromProto(d))
	}
	for _, e := range p.Events {
		r.Events = append(r.Events, sdk.EventData{Type: e.Type, Data: e.Data, Key: e.Key})
	}
	return r, nil
}

// Writer returns a writer into the test's log, line by line, until the
// test ends; a block process may still log while exiting after that,
// which the testing package forbids, so those lines are dropped.
func Writer(t testing.TB) io.Writer {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return w
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
