package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sethvargo/go-retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paperflow/paperflow/host/metrics"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
)

// Spec is everything needed to (re)start one block of a workflow.
type Spec struct {
	Instance
	Uses        string
	Path        string
	Config      []byte
	WorkflowDir string
	PublicURL   string
}

// Block is a supervised block process: calls go to the current process;
// when it has crashed, hung past the call timeout or stopped answering, it
// is killed and restarted with backoff and the call is tried again.
type Block struct {
	spec Spec
	svc  Services
	log  *slog.Logger
	// CallTimeout bounds one Process, Deliver or HTTP call; a call that
	// exceeds it counts as a hung plugin.
	CallTimeout time.Duration

	mu       sync.Mutex
	proc     *Process
	restarts atomic.Int64
	closed   bool
}

// MaxMessageBytes bounds one message between host and block: a document
// (64 MiB at most) plus its envelope.
const MaxMessageBytes = 80 << 20

// MaxCallAttempts is how often a call is tried on fresh processes before
// the error is returned to the caller.
const MaxCallAttempts = 4

// Caller is what the engine needs of a step: a supervised process or a
// block embedded in the host.
type Caller interface {
	Process(ctx context.Context, items []*blockv1.Item) ([]*blockv1.ItemResult, error)
	Close()
}

var _ Caller = (*Block)(nil)

// Start launches and configures the block.
func Start(ctx context.Context, spec Spec, svc Services, log *slog.Logger) (*Block, error) {
	b := &Block{spec: spec, svc: svc, log: log.With("workflow", spec.Workflow, "block", spec.BlockID), CallTimeout: 60 * time.Second}
	p, err := b.launch(ctx)
	if err != nil {
		return nil, err
	}
	b.proc = p
	return b, nil
}

// Restarts counts how often the process was replaced.
func (b *Block) Restarts() int64 { return b.restarts.Load() }

// ID is the block id in its workflow.
func (b *Block) ID() string { return b.spec.BlockID }

func (b *Block) launch(ctx context.Context) (*Process, error) {
	p, err := Launch(b.spec.Path, b.log)
	if err != nil {
		return nil, err
	}
	hs := &hostServer{in: b.spec.Instance, svc: b.svc, log: b.log}
	brokerID := p.Broker().NextId()
	go p.Broker().AcceptAndServe(brokerID, func(opts []grpc.ServerOption) *grpc.Server {
		// Documents travel whole in PutDocument/GetDocument: allow the
		// document size limit, not gRPC's 4 MiB default.
		s := grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes))...)
		blockv1.RegisterHostServer(s, hs)
		return s
	})
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = p.Block().Configure(cctx, &blockv1.ConfigureRequest{
		Workflow: b.spec.Workflow, BlockId: b.spec.BlockID, Config: b.spec.Config,
		WorkflowDir: b.spec.WorkflowDir, HostBrokerId: brokerID, PublicUrl: b.spec.PublicURL,
	})
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("block %s (%s): configure: %s", b.spec.BlockID, b.spec.Uses, status.Convert(err).Message())
	}
	return p, nil
}

// current returns a live process, restarting a dead one with backoff.
func (b *Block) current(ctx context.Context) (*Process, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("block closed")
	}
	if b.proc != nil && !b.proc.Exited() {
		return b.proc, nil
	}
	if b.proc != nil {
		b.proc.Kill()
		b.proc = nil
	}
	backoff := retry.WithMaxRetries(8, retry.WithCappedDuration(5*time.Second, retry.NewExponential(100*time.Millisecond)))
	err := retry.Do(ctx, backoff, func(ctx context.Context) error {
		p, err := b.launch(ctx)
		if err != nil {
			b.log.Warn("restarting block failed", "err", err)
			return retry.RetryableError(err)
		}
		b.proc = p
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("block %s: restart failed: %w", b.spec.BlockID, err)
	}
	b.restarts.Add(1)
	metrics.PluginRestarted(b.spec.Uses)
	b.log.Info("block restarted", "uses", b.spec.Uses, "restarts", b.restarts.Load())
	return b.proc, nil
}

// discard kills p if it is still the current process, so the next call
// starts a fresh one.
func (b *Block) discard(p *Process) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc == p {
		p.Kill()
		b.proc = nil
	}
}

// processFailed says whether err means the process (not the block's
// logic) failed: it crashed, hung, or the connection broke.
func processFailed(ctx context.Context, p *Process, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if p.Exited() {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// call runs f on a live process, retrying on fresh processes when the
// process failed. Its whole time, restarts included, is the call's latency.
func call[T any](ctx context.Context, b *Block, what string, f func(ctx context.Context, c blockv1.BlockClient) (T, error)) (T, error) {
	defer metrics.BlockCall(b.spec.Workflow, b.spec.BlockID, what, time.Now())
	var zero T
	var lastErr error
	for attempt := 1; attempt <= MaxCallAttempts; attempt++ {
		p, err := b.current(ctx)
		if err != nil {
			return zero, err
		}
		cctx, cancel := context.WithTimeout(ctx, b.CallTimeout)
		out, err := f(cctx, p.Block())
		cancel()
		if err == nil {
			return out, nil
		}
		if !processFailed(ctx, p, err) {
			return zero, &CallError{Block: b.spec.BlockID, Op: what, Msg: status.Convert(err).Message()}
		}
		lastErr = err
		b.log.Warn("block process failed; restarting and retrying", "op", what, "attempt", attempt, "err", status.Convert(err).Message())
		b.discard(p)
	}
	return zero, &CallError{Block: b.spec.BlockID, Op: what, Msg: status.Convert(lastErr).Message(), Retryable: true}
}

// bigMessages lets a block answer with more than gRPC's 4 MiB default (a
// signing page embedding its document, a large batch).
var bigMessages = []grpc.CallOption{grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)}

// CallError is a failed call to a block. Retryable is set when the
// process kept failing (the items should be tried again later).
type CallError struct {
	Block, Op, Msg string
	Retryable      bool
}

func (e *CallError) Error() string { return fmt.Sprintf("block %s: %s: %s", e.Block, e.Op, e.Msg) }

// Process runs a step over a batch of items.
func (b *Block) Process(ctx context.Context, items []*blockv1.Item) ([]*blockv1.ItemResult, error) {
	resp, err := call(ctx, b, metrics.CallProcess, func(ctx context.Context, c blockv1.BlockClient) (*blockv1.ProcessResponse, error) {
		return c.Process(ctx, &blockv1.ProcessRequest{Items: items}, bigMessages...)
	})
	if err != nil {
		return nil, err
	}
	if len(resp.Results) != len(items) {
		return nil, &CallError{Block: b.spec.BlockID, Op: "process", Msg: fmt.Sprintf("%d results for %d items", len(resp.Results), len(items))}
	}
	return resp.Results, nil
}

// Deliver hands a sink a batch of events.
func (b *Block) Deliver(ctx context.Context, events []*blockv1.Event) ([]*blockv1.DeliveryResult, error) {
	resp, err := call(ctx, b, metrics.CallDeliver, func(ctx context.Context, c blockv1.BlockClient) (*blockv1.DeliverResponse, error) {
		return c.Deliver(ctx, &blockv1.DeliverRequest{Events: events}, bigMessages...)
	})
	if err != nil {
		return nil, err
	}
	return resp.Results, nil
}

// ServeHTTP forwards one HTTP request to the block.
func (b *Block) ServeHTTP(ctx context.Context, req *blockv1.HTTPRequest) (*blockv1.HTTPResponse, error) {
	return call(ctx, b, "http", func(ctx context.Context, c blockv1.BlockClient) (*blockv1.HTTPResponse, error) {
		return c.ServeHTTP(ctx, req, bigMessages...)
	})
}

// Scheduled delivers a due callback.
func (b *Block) Scheduled(ctx context.Context, key string, payload []byte) error {
	_, err := call(ctx, b, "scheduled", func(ctx context.Context, c blockv1.BlockClient) (*blockv1.ScheduledResponse, error) {
		return c.Scheduled(ctx, &blockv1.ScheduledRequest{Key: key, Payload: payload})
	})
	return err
}

// Read streams a source's items to fn, starting after skip items. When the
// process dies mid-read it is restarted and the read resumes after the
// last batch fn accepted.
func (b *Block) Read(ctx context.Context, runID string, skip int64, fn func([]*blockv1.Item) error) error {
	read := skip
	for attempt := 1; ; attempt++ {
		p, err := b.current(ctx)
		if err != nil {
			return err
		}
		err = b.readOnce(ctx, p, runID, &read, fn)
		if err == nil {
			return nil
		}
		var fnErr *consumerError
		if errors.As(err, &fnErr) {
			return fnErr.err
		}
		if !processFailed(ctx, p, err) || attempt >= MaxCallAttempts {
			return &CallError{Block: b.spec.BlockID, Op: "read", Msg: status.Convert(err).Message(), Retryable: processFailed(ctx, p, err)}
		}
		b.log.Warn("source process failed; restarting and resuming", "read", read, "err", err)
		b.discard(p)
	}
}

type consumerError struct{ err error }

func (e *consumerError) Error() string { return e.err.Error() }

func (b *Block) readOnce(ctx context.Context, p *Process, runID string, read *int64, fn func([]*blockv1.Item) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := p.Block().Read(ctx, &blockv1.ReadRequest{RunId: runID, Skip: *read})
	if err != nil {
		return err
	}
	for {
		start := time.Now()
		batch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		metrics.BlockCall(b.spec.Workflow, b.spec.BlockID, metrics.CallRead, start)
		if err := fn(batch.Items); err != nil {
			return &consumerError{err}
		}
		*read += int64(len(batch.Items))
	}
}

// Close kills the process.
func (b *Block) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.proc != nil {
		b.proc.Kill()
		b.proc = nil
	}
}

// KillProcess kills the current process without telling the supervisor,
// as a crash would; the next call restarts it. For tests and drills.
func (b *Block) KillProcess() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc != nil {
		b.proc.Kill()
	}
}
