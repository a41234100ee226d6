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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
)

// blockServer adapts an author's Block to the gRPC Block service.
type blockServer struct {
	blockv1.UnimplementedBlockServer
	impl   Block
	broker *plugin.GRPCBroker

	mu     sync.Mutex
	config Config
}

func newBlockServer(impl Block, broker *plugin.GRPCBroker) *blockServer {
	return &blockServer{impl: impl, broker: broker}
}

func (s *blockServer) Describe(context.Context, *blockv1.DescribeRequest) (*blockv1.DescribeResponse, error) {
	d := s.impl.Describe()
	return &blockv1.DescribeResponse{
		Name: d.Name, Kind: KindToProto(d.Kind), Version: d.Version, Description: d.Description,
		ConfigSchema: d.ConfigSchema, Events: d.Events, HasRoutes: implementsRouter(s.impl),
	}, nil
}

func implementsRouter(b Block) bool {
	_, ok := b.(Router)
	return ok
}

func (s *blockServer) Configure(ctx context.Context, req *blockv1.ConfigureRequest) (*blockv1.ConfigureResponse, error) {
	cfg := Config{
		Workflow: req.Workflow, BlockID: req.BlockId, With: req.Config,
		WorkflowDir: req.WorkflowDir, PublicURL: req.PublicUrl,
	}
	cfg.Host = noHost{}
	if req.HostBrokerId != 0 {
		conn, err := s.broker.Dial(req.HostBrokerId)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "dial host service: %v", err)
		}
		cfg.Host = &hostClient{c: blockv1.NewHostClient(conn)}
	}
	if err := guard(func() error { return s.impl.Configure(ctx, cfg) }); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	s.mu.Lock()
	s.config = cfg
	s.mu.Unlock()
	return &blockv1.ConfigureResponse{}, nil
}

func (s *blockServer) Read(req *blockv1.ReadRequest, stream blockv1.Block_ReadServer) error {
	src, ok := s.impl.(Source)
	if !ok {
		return status.Error(codes.Unimplemented, "this block is not a source")
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

func (s *blockServer) Process(ctx context.Context, req *blockv1.ProcessRequest) (*blockv1.ProcessResponse, error) {
	step, ok := s.impl.(Step)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this block is not a step")
	}
	items := make([]Item, len(req.Items))
	for i, p := range req.Items {
		items[i] = ItemFromProto(p)
	}
	var results []Result
	if err := guard(func() error { results = step.Process(ctx, items); return nil }); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	if len(results) != len(items) {
		return nil, status.Errorf(codes.Internal, "block returned %d results for %d items", len(results), len(items))
	}
	resp := &blockv1.ProcessResponse{Results: make([]*blockv1.ItemResult, len(results))}
	for i, r := range results {
		pr, err := resultToProto(items[i].ID, r)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
		resp.Results[i] = pr
	}
	return resp, nil
}

func (s *blockServer) Deliver(ctx context.Context, req *blockv1.DeliverRequest) (*blockv1.DeliverResponse, error) {
	sink, ok := s.impl.(Sink)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this block is not a sink")
	}
	events := make([]Event, len(req.Events))
	for i, e := range req.Events {
		events[i] = Event{ID: e.Id, Type: e.Type, Envelope: e.Envelope, Attempt: e.Attempt}
	}
	var out []Delivery
	if err := guard(func() error { out = sink.Deliver(ctx, events); return nil }); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	if len(out) != len(events) {
		return nil, status.Errorf(codes.Internal, "block returned %d deliveries for %d events", len(out), len(events))
	}
	resp := &blockv1.DeliverResponse{Results: make([]*blockv1.DeliveryResult, len(out))}
	for i, d := range out {
		resp.Results[i] = &blockv1.DeliveryResult{
			EventId: events[i].ID, Status: blockv1.DeliveryStatus(d.Status),
			RetryAfterMs: d.RetryAfter.Milliseconds(), Reason: d.Reason,
		}
	}
	return resp, nil
}

func (s *blockServer) ServeHTTP(ctx context.Context, req *blockv1.HTTPRequest) (*blockv1.HTTPResponse, error) {
	h, ok := s.impl.(Router)
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
	sch, ok := s.impl.(Scheduler)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this block takes no scheduled callbacks")
	}
	if err := guard(func() error { return sch.Scheduled(ctx, req.Key, req.Payload) }); err != nil {
		return nil, status.Errorf(codes.Unavailable, "%v", err)
	}
	return &blockv1.ScheduledResponse{}, nil
}

func resultToProto(itemID string, r Result) (*blockv1.ItemResult, error) {
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
		out.Events = append(out.Events, &blockv1.EventData{Type: e.Type, Data: e.Data})
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
