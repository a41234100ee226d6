package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/status"

	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// Process is one running block plugin.
type Process struct {
	Path   string
	client *plugin.Client
	rpc    *sdk.Client

	killOnce sync.Once
	killed   chan struct{}
}

// Launch starts the block binary at path and completes the handshake. The
// block dies with the host, even when the host is killed with SIGKILL.
func Launch(path string, log *slog.Logger) (*Process, error) {
	cmd := blockCommand(path)
	dieWithHost(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.PluginMap(nil),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           newHCLogger(log, "plugin"),
		StartTimeout:     30 * time.Second,
		Managed:          false,
	})
	p := &Process{Path: path, client: client, killed: make(chan struct{})}
	if err := p.startLocked(); err != nil {
		p.Kill()
		return nil, fmt.Errorf("start block %s: %w (is it a paperflow block built with plugins/sdk for protocol v%d?)", path, err, sdk.ProtocolVersion)
	}
	rpcClient, err := client.Client()
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("start block %s: %w", path, err)
	}
	raw, err := rpcClient.Dispense(sdk.PluginName)
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("start block %s: %w", path, err)
	}
	p.rpc = raw.(*sdk.Client)
	return p, nil
}

// startLocked starts the process from a goroutine locked to an OS thread
// of its own, held until the process is killed. Linux sends the
// parent-death signal when the thread that forked the child ends, not the
// host process, and Go ends a thread when a goroutine locked to it
// returns: forked from an ordinary goroutine, a block could die with a
// thread that some other code locked and let go later. Holding a thread
// per live block costs little now that a block binary runs one process
// for all its instances.
func (p *Process) startLocked() error {
	started := make(chan error, 1)
	go func() {
		// Never unlocked, on purpose: the thread ends with this goroutine,
		// which returns only once the block is killed.
		runtime.LockOSThread()
		_, err := p.client.Start()
		started <- err
		if err == nil {
			<-p.killed
		}
	}()
	return <-started
}

// hostOnlyEnv are environment variables for the host alone: the secrets
// and credentials it resolves itself never reach a block process.
var hostOnlyEnv = []string{"PAPERFLOW_SECRET_", "PAPERFLOW_API_TOKEN=", "PAPERFLOW_SMTP_URL=", "PAPERFLOW_NATS_URL=", "PAPERFLOW_SECRETS_FILE="}

func blockCommand(path string) *exec.Cmd {
	cmd := exec.Command(path)
	cmd.Env = []string{sdk.HostPIDEnv + "=" + strconv.Itoa(os.Getpid())}
	for _, kv := range os.Environ() {
		if !slices.ContainsFunc(hostOnlyEnv, func(p string) bool { return strings.HasPrefix(kv, p) }) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// Block is the gRPC client of the block.
func (p *Process) Block() blockv1.BlockClient { return p.rpc.Block }

// Broker is the go-plugin broker for serving the Host service.
func (p *Process) Broker() *plugin.GRPCBroker { return p.rpc.Broker }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool { return p.client.Exited() }

// Kill ends the process.
func (p *Process) Kill() {
	p.killOnce.Do(func() {
		p.client.Kill()
		close(p.killed)
	})
}

// Describe asks the block what it is.
func (p *Process) Describe(ctx context.Context) (Description, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := p.rpc.Block.Describe(ctx, &blockv1.DescribeRequest{})
	if err != nil {
		return Description{}, fmt.Errorf("describe block %s: %w", p.Path, err)
	}
	return Description{
		Name: d.Name, Kind: sdk.KindFromProto(d.Kind), Version: d.Version, Description: d.Description,
		ConfigSchema: d.ConfigSchema, Events: d.Events, HasRoutes: d.HasRoutes, Path: p.Path,
	}, nil
}

// Description is what a block said about itself in Describe.
type Description struct {
	Name, Version, Description string
	Kind                       sdk.Kind
	ConfigSchema               []byte
	Events                     []string
	HasRoutes                  bool
	Path                       string
}

// CheckConfig starts the block at path and has it configure itself with
// config, without Host services, to find what its schema cannot say (a
// template with a broken tag, a tool it needs that is not installed).
func CheckConfig(ctx context.Context, path string, in Instance, config []byte, workflowDir string, log *slog.Logger) error {
	p, err := Launch(path, log)
	if err != nil {
		return err
	}
	defer p.Kill()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = p.Block().Configure(ctx, &blockv1.ConfigureRequest{
		Workflow: in.Workflow, BlockId: in.BlockID, Config: config, WorkflowDir: workflowDir,
	})
	if err != nil {
		return errors.New(status.Convert(err).Message())
	}
	return nil
}
