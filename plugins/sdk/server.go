package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime/debug"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
)

// blockServer adapts an author's Block to the gRPC Block service. One
// process serves every instance of its block in a host: each Configure
// makes a new Block value with newBlock, kept under the request's instance
// key until Release.
type blockServer struct {
	blockv1.UnimplementedBlockServer
	newBlock func() Block
	// about answers Describe; it is never configured.
	about  Block
	broker *plugin.GRPCBroker
	// only is the one block of an in-process server, whatever the key.
	only Block

	mu        sync.RWMutex
	instances map[string]*instance
}

// instance is one configured block of one workflow.
type instance struct {
	impl Block
	// host is the connection to this instance's Host service; nil
	// without one (validate, embedded blocks).
	host *grpc.ClientConn
}

func newBlockServer(newBlock func() Block, broker *plugin.GRPCBroker) *blockServer {
	return &blockServer{newBlock: newBlock, about: newBlock(), broker: broker, instances: map[string]*instance{}}
}

func (s *blockServer) Describe(context.Context, *blockv1.DescribeRequest) (*blockv1.DescribeResponse, error) {
	d := s.about.Describe()
	return &blockv1.DescribeResponse{
		Name: d.Name, Kind: KindToProto(d.Kind), Version: d.Version, Description: d.Description,
		ConfigSchema: d.ConfigSchema, Events: d.Events, HasRoutes: implementsRouter(s.about),
		MultiInstance: true,
	}, nil
}

func implementsRouter(b Block) bool {
	_, ok := b.(Router)
	return ok
}

func (s *blockServer) Configure(ctx context.Context, req *blockv1.ConfigureRequest) (*blockv1.ConfigureResponse, error) {
	cfg := Config{
		Workflow: req.Workflow, BlockID: req.BlockId, With: req.Config,
		WorkflowDir: req.WorkflowDir, PublicURL: req.PublicUrl, Settings: req.Settings,
	}
	cfg.Host = noHost{}
	in := &instance{impl: s.newBlock()}
	if req.HostBrokerId != 0 {
		conn, err := s.broker.DialWithOptions(req.HostBrokerId, grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec)))
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "dial host service: %v", err)
		}
		in.host = conn
		cfg.Host = &hostClient{c: blockv1.NewHostClient(conn)}
	}
	if err := guard(func() error { return in.impl.Configure(ctx, cfg) }); err != nil {
		in.close()
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	s.mu.Lock()
	old := s.instances[req.Instance]
	s.instances[req.Instance] = in
	s.mu.Unlock()
	old.close()
	return &blockv1.ConfigureResponse{Sink: sinkPolicy(in.impl)}, nil
}

// sinkPolicy is what a configured PolicySink declares; nil for any other block.
func sinkPolicy(b Block) *blockv1.SinkPolicy {
	ps, ok := b.(PolicySink)
	if !ok {
		return nil
	}
	p := ps.SinkPolicy()
	out := &blockv1.SinkPolicy{Events: p.Events}
	for _, d := range p.Retry {
		out.RetryMs = append(out.RetryMs, d.Milliseconds())
	}
	return out
}

// Release drops an instance the host is done with.
func (s *blockServer) Release(_ context.Context, req *blockv1.ReleaseRequest) (*blockv1.ReleaseResponse, error) {
	s.mu.Lock()
	in := s.instances[req.Instance]
	delete(s.instances, req.Instance)
	s.mu.Unlock()
	in.close()
	return &blockv1.ReleaseResponse{}, nil
}

func (in *instance) close() {
	if in != nil && in.host != nil {
		_ = in.host.Close()
	}
}

// block returns the configured Block of an instance key.
func (s *blockServer) block(key string) (Block, error) {
	if s.only != nil {
		return s.only, nil
	}
	s.mu.RLock()
	in := s.instances[key]
	s.mu.RUnlock()
	if in == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "instance %q is not configured", key)
	}
	return in.impl, nil
}

// blockAs returns the configured Block of an instance key as a T (a
// Source, Step, Sink or Scheduler); a block that is not one answers
// Unimplemented, saying what it is not.
func blockAs[T any](s *blockServer, key, notOne string) (T, error) {
	var t T
	impl, err := s.block(key)
	if err != nil {
		return t, err
	}
	t, ok := impl.(T)
	if !ok {
		return t, status.Error(codes.Unimplemented, notOne)
	}
	return t, nil
}

func (s *blockServer) Read(req *blockv1.ReadRequest, stream blockv1.Block_ReadServer) error {
	src, err := blockAs[Source](s, req.Instance, "this block is not a source")
	if err != nil {
		return err
	}
	emit := func(items []Item) error {
		batch := &blockv1.ItemBatch{Items: make([]*blockv1.Item, len(items))}
		for i, it := range items {
			batch.Items[i] = ItemToProto(it)
		}
		return stream.Send(batch)
	}
	return guard(func() error {
		return src.Read(stream.Context(), ReadRequest{RunID: req.RunId, Skip: req.Skip}, emit)
	})
}

// batch is the round trip of a batch method: its inputs from the wire
// (from), the call under guard held to the protocol's rule of one answer
// per input, in order, and each answer back to the wire with its input
// (to). A panic, another count of answers or an answer that does not
// convert is Internal; the error names the answers and the inputs
// ("results", "items").
func batch[P, In, Out, R any](wire []P, from func(P) In, answers, inputs string, call func([]In) []Out, to func(In, Out) (R, error)) ([]R, error) {
	in := make([]In, len(wire))
	for i, p := range wire {
		in[i] = from(p)
	}
	var out []Out
	if err := guard(func() error { out = call(in); return nil }); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	if len(out) != len(in) {
		return nil, status.Errorf(codes.Internal, "block returned %d %s for %d %s", len(out), answers, len(in), inputs)
	}
	resp := make([]R, len(out))
	for i, o := range out {
		r, err := to(in[i], o)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
		resp[i] = r
	}
	return resp, nil
}

func (s *blockServer) Process(ctx context.Context, req *blockv1.ProcessRequest) (*blockv1.ProcessResponse, error) {
	step, err := blockAs[Step](s, req.Instance, "this block is not a step")
	if err != nil {
		return nil, err
	}
	results, err := batch(req.Items, ItemFromProto, "results", "items",
		func(items []Item) []Result { return step.Process(ctx, items) },
		func(it Item, r Result) (*blockv1.ItemResult, error) { return ResultToProto(it.ID, r) })
	if err != nil {
		return nil, err
	}
	return &blockv1.ProcessResponse{Results: results}, nil
}

func (s *blockServer) Deliver(ctx context.Context, req *blockv1.DeliverRequest) (*blockv1.DeliverResponse, error) {
	sink, err := blockAs[Sink](s, req.Instance, "this block is not a sink")
	if err != nil {
		return nil, err
	}
	results, err := batch(req.Events, EventFromProto, "deliveries", "events",
		func(events []Event) []Delivery { return sink.Deliver(ctx, events) },
		func(e Event, d Delivery) (*blockv1.DeliveryResult, error) { return DeliveryToProto(e.ID, d), nil })
	if err != nil {
		return nil, err
	}
	return &blockv1.DeliverResponse{Results: results}, nil
}

// EventFromProto converts an event from the wire for a sink's Deliver.
func EventFromProto(e *blockv1.Event) Event {
	return Event{ID: e.Id, Type: e.Type, Envelope: e.Envelope, Attempt: e.Attempt}
}

// DeliveryToProto converts a sink's verdict on the event eventID for the
// wire.
func DeliveryToProto(eventID string, d Delivery) *blockv1.DeliveryResult {
	return &blockv1.DeliveryResult{
		EventId: eventID, Status: blockv1.DeliveryStatus(d.Status),
		RetryAfterMs: d.RetryAfter.Milliseconds(), Reason: d.Reason,
	}
}

func (s *blockServer) ServeHTTP(ctx context.Context, req *blockv1.HTTPRequest) (*blockv1.HTTPResponse, error) {
	impl, err := s.block(req.Instance)
	if err != nil {
		return nil, err
	}
	h, ok := impl.(Router)
	if !ok {
		return &blockv1.HTTPResponse{Status: http.StatusNotFound, Body: []byte("this block serves no pages\n")}, nil
	}
	u := &url.URL{Path: req.Path, RawQuery: req.RawQuery}
	r, err := http.NewRequestWithContext(ctx, req.Method, u.String(), bytes.NewReader(req.Body))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "build request: %v", err)
	}
	for _, hd := range req.Headers {
		for _, v := range hd.Values {
			r.Header.Add(hd.Name, v)
		}
	}
	r.RemoteAddr = req.RemoteAddr
	r.ContentLength = int64(len(req.Body))
	if req.Internal {
		r = WithHostCall(r)
	}
	rec := httptest.NewRecorder()
	if err := guard(func() error { h.ServeHTTP(rec, r); return nil }); err != nil {
		return &blockv1.HTTPResponse{Status: http.StatusInternalServerError, Body: []byte("internal error\n")}, nil
	}
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	out := &blockv1.HTTPResponse{Status: int32(res.StatusCode), Body: body}
	for name, values := range res.Header {
		out.Headers = append(out.Headers, &blockv1.Header{Name: name, Values: values})
	}
	return out, nil
}

func (s *blockServer) Scheduled(ctx context.Context, req *blockv1.ScheduledRequest) (*blockv1.ScheduledResponse, error) {
	sch, err := blockAs[Scheduler](s, req.Instance, "this block takes no scheduled callbacks")
	if err != nil {
		return nil, err
	}
	if err := guard(func() error { return sch.Scheduled(ctx, req.Key, req.Payload) }); err != nil {
		return nil, status.Errorf(codes.Unavailable, "%v", err)
	}
	return &blockv1.ScheduledResponse{}, nil
}

// ResultToProto converts a step's Result for the wire: outputs as a JSON
// object, the error as its message and whether it is retryable.
func ResultToProto(itemID string, r Result) (*blockv1.ItemResult, error) {
	out := &blockv1.ItemResult{ItemId: itemID, Skipped: r.Skipped}
	if r.Outputs != nil {
		raw, err := jsonMarshal(r.Outputs)
		if err != nil {
			return nil, fmt.Errorf("item %s: encode outputs: %w", itemID, err)
		}
		out.Outputs = raw
	}
	for _, d := range r.Documents {
		out.Documents = append(out.Documents, DocumentToProto(d))
	}
	for _, e := range r.Events {
		out.Events = append(out.Events, &blockv1.EventData{Type: e.Type, Data: e.Data, Key: e.Key})
	}
	if r.Err != nil {
		out.Error = r.Err.Error()
		var be *Error
		if errors.As(r.Err, &be) {
			out.Retryable = be.Retryable
		}
	}
	return out, nil
}

// guard turns a panic in block code into an error, so one bad item cannot
// take the process down with the others of its batch.
func guard(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "block panicked: %v\n%s", p, debug.Stack())
			err = fmt.Errorf("block panicked: %v", p)
		}
	}()
	return f()
}
