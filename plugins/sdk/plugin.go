package sdk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
)

// ProtocolVersion is the block protocol version this SDK speaks. The host
// refuses a plugin built against another version, with a clear message.
const ProtocolVersion = 1

// Handshake is shared by the host and every block. The cookie keeps a block
// binary from doing anything when a person runs it by hand.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "PAPERFLOW_BLOCK_PLUGIN",
	MagicCookieValue: "3c1f0a7e-block-v1",
}

// maxMessageBytes bounds one message between host and block: a document
// (64 MiB at most) plus its envelope.
const maxMessageBytes = 80 << 20

// PluginName is the go-plugin name under which a block is served.
const PluginName = "block"

// GRPCPlugin connects go-plugin to the block protocol. The host uses it
// with a nil NewBlock to get a client; Serve uses it with the author's
// constructor.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// NewBlock makes one unconfigured block per instance.
	NewBlock func() Block
}

// GRPCServer registers the block on the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	blockv1.RegisterBlockServer(s, newBlockServer(p.NewBlock, broker))
	return nil
}

// GRPCClient returns a Client for the host side.
func (p *GRPCPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{Block: blockv1.NewBlockClient(c), Broker: broker}, nil
}

// Client is the host's handle on a running block process.
type Client struct {
	Block  blockv1.BlockClient
	Broker *plugin.GRPCBroker
}

// PluginMap is the go-plugin plugin set of a block process.
func PluginMap(newBlock func() Block) map[string]plugin.Plugin {
	return map[string]plugin.Plugin{PluginName: &GRPCPlugin{NewBlock: newBlock}}
}

// Serve runs a block plugin. newBlock returns a new, unconfigured block:
// the one process serves every instance of the block in its host (all the
// workflows and block ids that use it), and Serve calls newBlock once per
// instance, before its Configure. It returns only when the host ends the
// process. Run by hand, it prints what the binary is and exits.
func Serve(newBlock func() Block) {
	b := newBlock()
	if os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		d := b.Describe()
		fmt.Fprintf(os.Stderr, "%s %s is a paperflow %s block (%s).\nIt is started by the paperflow host; put it in the plugin directory and use it in a workflow as `uses: %s`.\n",
			d.Name, d.Version, d.Kind, d.Description, d.Name)
		os.Exit(1)
	}
	go exitWithHost(hostPID(), time.Second)
	if dir := os.Getenv(CPUProfileEnv); dir != "" {
		defer profileCPU(dir, b.Describe().Name)()
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         PluginMap(newBlock),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(maxMessageBytes), grpc.MaxSendMsgSize(maxMessageBytes), grpc.ForceServerCodecV2(Codec))...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       b.Describe().Name,
			Level:      hclog.Info,
			JSONFormat: true,
			Output:     os.Stderr,
		}),
	})
}

// CPUProfileEnv names the variable that, set to a directory, has each
// block process write a CPU profile of its whole life there as
// NAME-PID.pprof: blocks run as processes of their own, so a profile of
// the host alone does not show where their CPU goes.
const CPUProfileEnv = "PAPERFLOW_BLOCK_CPUPROFILE"

// profileCPU starts a CPU profile into dir and returns what stops it. A
// profile that cannot be written is reported on stderr; the block runs on.
func profileCPU(dir, name string) (stop func()) {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", name, os.Getpid())))
	if err == nil {
		if err = pprof.StartCPUProfile(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: CPU profile: %v\n", CPUProfileEnv, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// HostPIDEnv names the variable in which the host passes its process id
// to a block, so a block whose host died before the block looked at its
// parent still notices.
const HostPIDEnv = "PAPERFLOW_HOST_PID"

// hostPID is the process the block must not outlive: its parent, or the
// host named in HostPIDEnv when the block was re-parented to init before
// it could look.
func hostPID() int {
	ppid := os.Getppid()
	if pid, err := strconv.Atoi(os.Getenv(HostPIDEnv)); err == nil && pid > 1 && ppid == 1 {
		return pid
	}
	return ppid
}

// exitWithHost ends the block process once its parent, the host, is gone
// (the block was re-parented), polling every interval. The host's kernel
// parent-death signal covers Linux; this covers the other systems and a
// host that could not set it.
func exitWithHost(host int, interval time.Duration) {
	if host <= 1 {
		return // started by init or a supervisor itself: nothing to watch
	}
	for range time.Tick(interval) {
		if os.Getppid() != host {
			fmt.Fprintf(os.Stderr, "host process %d is gone; block exiting\n", host)
			os.Exit(3)
		}
	}
}

// KindToProto converts a Kind for the wire.
func KindToProto(k Kind) blockv1.Kind {
	switch k {
	case KindSource:
		return blockv1.Kind_KIND_SOURCE
	case KindStep:
		return blockv1.Kind_KIND_STEP
	case KindSink:
		return blockv1.Kind_KIND_SINK
	}
	return blockv1.Kind_KIND_UNSPECIFIED
}

// KindFromProto converts a wire kind.
func KindFromProto(k blockv1.Kind) Kind {
	switch k {
	case blockv1.Kind_KIND_SOURCE:
		return KindSource
	case blockv1.Kind_KIND_STEP:
		return KindStep
	case blockv1.Kind_KIND_SINK:
		return KindSink
	}
	return ""
}

// ItemToProto and ItemFromProto convert items for the wire.
func ItemToProto(it Item) *blockv1.Item {
	return &blockv1.Item{Id: it.ID, RunId: it.RunID, Origin: it.Origin, Fields: it.RawFields, Blocks: it.RawBlocks, Config: it.RawConfig, Error: it.Err}
}

// ItemFromProto converts a wire item.
func ItemFromProto(p *blockv1.Item) Item {
	return Item{ID: p.Id, RunID: p.RunId, Origin: p.Origin, RawFields: p.Fields, RawBlocks: p.Blocks, RawConfig: p.Config, Err: p.Error}
}

// InProcess serves b without a process boundary: the same conversions as
// over gRPC, called directly. The host uses it to embed blocks and to
// measure what the process boundary costs. It serves one instance: b.
func InProcess(b Block) blockv1.BlockServer {
	s := newBlockServer(func() Block { return b }, nil)
	s.only = b
	return s
}
