package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
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
		// Batches over 32 KiB are not marshalled into a cleared 1 MiB buffer.
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.ForceCodecV2(sdk.Codec))},
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
// Settings the host hands over in Configure stay out of the environment
// too, so a block never sees an older value than its Configure says.
var hostOnlyEnv = []string{"PAPERFLOW_SECRET_", "PAPERFLOW_API_TOKEN=", "PAPERFLOW_SMTP_URL=", "PAPERFLOW_NATS_URL=", "PAPERFLOW_SECRETS_FILE=", "PAPERFLOW_CONSOLE_READONLY_TOKEN=",
	WebhookAllowEnv + "=", SigningCertEnv + "="}

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
		MultiInstance: d.MultiInstance,
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
	// MultiInstance: one process serves every instance of the block.
	MultiInstance bool
}

// Checker has blocks configure themselves without Host services, to find
// what their schema cannot say (a template with a broken tag, a tool a
// block needs that is not installed). It keeps one process per block
// binary for all its checks, until Close.
type Checker struct {
	log *slog.Logger
	// Settings reach the checked blocks in Configure; nil takes them from
	// the host's environment.
	Settings Settings

	mu   sync.Mutex
	held map[string]*shared
}

// NewChecker returns a Checker that logs to log.
func NewChecker(log *slog.Logger) *Checker {
	return &Checker{log: log, held: map[string]*shared{}}
}

// Check configures the block at path with config as instance in, and
// drops the instance again.
func (c *Checker) Check(ctx context.Context, path string, in Instance, config []byte, workflowDir string) error {
	s, err := c.hold(ctx, path)
	if err != nil {
		return err
	}
	if !s.multi {
		return checkAlone(ctx, path, in, config, workflowDir, c.Settings, c.log)
	}
	p, _, err := s.get(ctx)
	if err != nil {
		return err
	}
	key := instanceKey(in)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = p.Block().Configure(cctx, &blockv1.ConfigureRequest{
		Workflow: in.Workflow, BlockId: in.BlockID, Config: config, WorkflowDir: workflowDir, Instance: key,
		Settings: c.Settings.orFromEnv(),
	})
	if err != nil {
		if processFailed(ctx, p, err) {
			s.discard(p)
		}
		return errors.New(status.Convert(err).Message())
	}
	_, _ = p.Block().Release(cctx, &blockv1.ReleaseRequest{Instance: key})
	return nil
}

// hold attaches the checker to the process of the binary at path once.
func (c *Checker) hold(ctx context.Context, path string) (*shared, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.held[path]; s != nil {
		return s, nil
	}
	s, err := processes.attach(ctx, path, filepath.Base(path), c.log)
	if err != nil {
		return nil, err
	}
	c.held[path] = s
	return s, nil
}

// Close lets go of the processes; those no other instance uses end.
func (c *Checker) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for path, s := range c.held {
		processes.detach(s)
		delete(c.held, path)
	}
}

// checkAlone checks a block that serves one instance per process on a
// process of its own.
func checkAlone(ctx context.Context, path string, in Instance, config []byte, workflowDir string, settings Settings, log *slog.Logger) error {
	p, err := Launch(path, log)
	if err != nil {
		return err
	}
	defer p.Kill()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = p.Block().Configure(ctx, &blockv1.ConfigureRequest{
		Workflow: in.Workflow, BlockId: in.BlockID, Config: config, WorkflowDir: workflowDir,
		Settings: settings.orFromEnv(),
	})
	if err != nil {
		return errors.New(status.Convert(err).Message())
	}
	return nil
}
