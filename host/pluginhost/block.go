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

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paperflow/paperflow/host/metrics"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// Spec is everything needed to (re)start one block of a workflow.
type Spec struct {
	Instance
	Uses        string
	Path        string
	Config      []byte
	WorkflowDir string
	PublicURL   string
	// Settings reach the block in Configure; nil takes them from the
	// host's environment (SettingsFromEnv).
	Settings Settings
}

// Block is one instance of a block in a workflow (one workflow block id),
// served by the shared process of its block binary. Calls go to that
// process; when it has crashed, hung past the call timeout or stopped
// answering, it is killed and restarted with backoff, the instance is
// configured again and the call is tried again.
type Block struct {
	spec Spec
	svc  Services
	log  *slog.Logger
	// CallTimeout bounds one Process, Deliver or HTTP call; a call that
	// exceeds it counts as a hung plugin.
	CallTimeout time.Duration
	// key tells this instance apart from the others on its process.
	key  string
	proc *shared

	mu       sync.Mutex
	gen      uint64 // launch of proc this instance is configured on; 0: none
	host     *hostService
	policy   *blockv1.SinkPolicy // as the last Configure declared it
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

// instanceSeq makes instance keys unique within the host, so two runs of
// the same workflow configure two instances.
var instanceSeq atomic.Uint64

func instanceKey(in Instance) string {
	return fmt.Sprintf("%s/%s#%d", in.Workflow, in.BlockID, instanceSeq.Add(1))
}

// Start configures a new instance of the block, on the process of its
// binary: the first instance launches it, the others share it.
func Start(ctx context.Context, spec Spec, svc Services, log *slog.Logger) (*Block, error) {
	log = log.With("workflow", spec.Workflow, "block", spec.BlockID)
	sh, err := processes.attach(ctx, spec.Path, spec.Uses, log)
	if err != nil {
		return nil, err
	}
	b := &Block{spec: spec, svc: svc, log: log, CallTimeout: 60 * time.Second, key: instanceKey(spec.Instance), proc: sh}
	if _, err := b.current(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Restarts counts how often this instance was configured again on a
// replaced process.
func (b *Block) Restarts() int64 { return b.restarts.Load() }

// SinkPolicy is what a sink declared when it was configured: the event
// types to feed it and its retry schedule. Nil when it declared none.
func (b *Block) SinkPolicy() *blockv1.SinkPolicy {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.policy
}

// ID is the block id in its workflow.
func (b *Block) ID() string { return b.spec.BlockID }

// hostService is the Host service of one instance, served over the
// broker of the process the instance is configured on.
type hostService struct {
	mu      sync.Mutex
	srv     *grpc.Server
	stopped bool
}

func (h *hostService) serve(s *grpc.Server) *grpc.Server {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.srv = s
	if h.stopped {
		s.Stop()
	}
	return s
}

func (h *hostService) stop() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	if h.srv != nil {
		h.srv.Stop()
	}
}

// configure serves the instance its own Host service on p's broker and
// configures it there.
func (b *Block) configure(ctx context.Context, p *Process) error {
	hs := &hostServer{in: b.spec.Instance, svc: b.svc, log: b.log}
	host := &hostService{}
	brokerID := p.Broker().NextId()
	go p.Broker().AcceptAndServe(brokerID, func(opts []grpc.ServerOption) *grpc.Server {
		// Documents travel whole in PutDocument/GetDocument: allow the
		// document size limit, not gRPC's 4 MiB default; sdk.Codec reads
		// them into buffers that are not cleared first.
		s := grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes), grpc.ForceServerCodecV2(sdk.Codec))...)
		blockv1.RegisterHostServer(s, hs)
		return host.serve(s)
	})
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := p.Block().Configure(cctx, &blockv1.ConfigureRequest{
		Workflow: b.spec.Workflow, BlockId: b.spec.BlockID, Config: b.spec.Config,
		WorkflowDir: b.spec.WorkflowDir, HostBrokerId: brokerID, PublicUrl: b.spec.PublicURL,
		Instance: b.key, Settings: b.spec.Settings.orFromEnv(),
	})
	if err != nil {
		host.stop()
		return err
	}
	b.policy = resp.GetSink()
	b.host.stop() // the one served on a process that is gone
	b.host = host
	return nil
}

// current returns a live process on which this instance is configured:
// it restarts a dead process (with backoff, once for all its instances)
// and configures the instance again on a new one.
func (b *Block) current(ctx context.Context) (*Process, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for attempt := 1; ; attempt++ {
		if b.closed {
			return nil, errors.New("block closed")
		}
		p, gen, err := b.proc.get(ctx)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", b.spec.BlockID, err)
		}
		if gen == b.gen {
			return p, nil
		}
		err = b.configure(ctx, p)
		if err == nil {
			if b.gen != 0 {
				b.restarts.Add(1)
				b.log.Info("block configured again on a restarted process", "uses", b.spec.Uses, "restarts", b.restarts.Load())
			}
			b.gen = gen
			return p, nil
		}
		if !processFailed(ctx, p, err) || attempt >= MaxCallAttempts {
			return nil, fmt.Errorf("block %s (%s): configure: %s", b.spec.BlockID, b.spec.Uses, status.Convert(err).Message())
		}
		b.proc.discard(p)
	}
}

// discard kills p if it is still the current process, so the next call
// starts a fresh one. Every instance on p is affected: their calls in
// flight fail and are retried on the new process.
func (b *Block) discard(p *Process) { b.proc.discard(p) }

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
		// A hung call kills the process shared by every instance of this
		// block binary: their calls in flight fail too and are retried the
		// same way on the restarted process.
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
		return c.Process(ctx, &blockv1.ProcessRequest{Items: items, Instance: b.key}, bigMessages...)
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
		return c.Deliver(ctx, &blockv1.DeliverRequest{Events: events, Instance: b.key}, bigMessages...)
	})
	if err != nil {
		return nil, err
	}
	return resp.Results, nil
}

// ServeHTTP forwards one HTTP request to the block.
func (b *Block) ServeHTTP(ctx context.Context, req *blockv1.HTTPRequest) (*blockv1.HTTPResponse, error) {
	req.Instance = b.key
	return call(ctx, b, "http", func(ctx context.Context, c blockv1.BlockClient) (*blockv1.HTTPResponse, error) {
		return c.ServeHTTP(ctx, req, bigMessages...)
	})
}

// Scheduled delivers a due callback.
func (b *Block) Scheduled(ctx context.Context, key string, payload []byte) error {
	_, err := call(ctx, b, "scheduled", func(ctx context.Context, c blockv1.BlockClient) (*blockv1.ScheduledResponse, error) {
		return c.Scheduled(ctx, &blockv1.ScheduledRequest{Key: key, Payload: payload, Instance: b.key})
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
	stream, err := p.Block().Read(ctx, &blockv1.ReadRequest{RunId: runID, Skip: *read, Instance: b.key})
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

// Close drops the instance; the process ends with its last instance.
func (b *Block) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.host.stop()
	configured := b.gen
	b.mu.Unlock()
	if p, gen, last := processes.detach(b.proc); !last && p != nil && configured == gen {
		// Others still use the process: have it drop this instance. A
		// process that does not answer is not worth waiting for.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = p.Block().Release(ctx, &blockv1.ReleaseRequest{Instance: b.key})
		}()
	}
}

// KillProcess kills the current process without telling the supervisor,
// as a crash would; every instance on it restarts it on its next call.
// For tests and drills.
func (b *Block) KillProcess() { b.proc.killCurrent() }
