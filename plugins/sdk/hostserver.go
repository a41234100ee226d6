package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
)

// NewHostServer serves h as the Host gRPC service a block process calls
// back into. It is the host side of the broker connection for a Host
// written in Go: sdktest serves its in-memory Host with it, so a built block
// binary talks to the same wire protocol as under the real host.
func NewHostServer(h Host) blockv1.HostServer { return &hostServer{h: h} }

// hostServer adapts a Host to the Host gRPC service.
type hostServer struct {
	blockv1.UnimplementedHostServer
	h Host
}

var _ blockv1.HostServer = (*hostServer)(nil)

func (s *hostServer) PutDocument(ctx context.Context, r *blockv1.PutDocumentRequest) (*blockv1.Document, error) {
	d, err := s.h.PutDocument(ctx, r.Name, r.Mimetype, r.Data)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	return DocumentToProto(d), nil
}

func (s *hostServer) GetDocument(ctx context.Context, r *blockv1.GetDocumentRequest) (*blockv1.GetDocumentResponse, error) {
	d, data, err := s.h.GetDocument(ctx, r.Id)
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "%v", err)
	}
	return &blockv1.GetDocumentResponse{Document: DocumentToProto(d), Data: data}, nil
}

func (s *hostServer) DocumentURL(ctx context.Context, r *blockv1.DocumentURLRequest) (*blockv1.DocumentURLResponse, error) {
	u, err := s.h.DocumentURL(ctx, r.Id, time.Duration(r.TtlSeconds)*time.Second)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	return &blockv1.DocumentURLResponse{Url: u}, nil
}

func (s *hostServer) KVGet(ctx context.Context, r *blockv1.KVGetRequest) (*blockv1.KVGetResponse, error) {
	v, rev, found, err := s.h.KVGet(ctx, r.Key)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "kv get: %v", err)
	}
	return &blockv1.KVGetResponse{Found: found, Value: v, Revision: rev}, nil
}

func (s *hostServer) KVPut(ctx context.Context, r *blockv1.KVPutRequest) (*blockv1.KVPutResponse, error) {
	var rev uint64
	var err error
	if r.Unconditional {
		rev, err = s.h.KVSet(ctx, r.Key, r.Value)
	} else {
		rev, err = s.h.KVPut(ctx, r.Key, r.Value, r.ExpectRevision)
	}
	if errors.Is(err, ErrConflict) {
		return &blockv1.KVPutResponse{Conflict: true}, nil
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "kv put: %v", err)
	}
	return &blockv1.KVPutResponse{Revision: rev}, nil
}

func (s *hostServer) KVDelete(ctx context.Context, r *blockv1.KVDeleteRequest) (*blockv1.KVDeleteResponse, error) {
	if err := s.h.KVDelete(ctx, r.Key); err != nil {
		return nil, status.Errorf(codes.Unavailable, "kv delete: %v", err)
	}
	return &blockv1.KVDeleteResponse{}, nil
}

func (s *hostServer) KVKeys(ctx context.Context, r *blockv1.KVKeysRequest) (*blockv1.KVKeysResponse, error) {
	keys, more, err := s.h.KVKeys(ctx, r.Prefix, r.After, int(r.Limit))
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "kv keys: %v", err)
	}
	return &blockv1.KVKeysResponse{Keys: keys, More: more}, nil
}

func (s *hostServer) SendMail(ctx context.Context, r *blockv1.SendMailRequest) (*blockv1.SendMailResponse, error) {
	id, err := s.h.SendMail(ctx, MailFromProto(r))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	return &blockv1.SendMailResponse{MessageId: id}, nil
}

func (s *hostServer) Emit(ctx context.Context, r *blockv1.EmitRequest) (*blockv1.EmitResponse, error) {
	if r.Event == nil {
		return nil, status.Error(codes.InvalidArgument, "emit: no event")
	}
	id, err := s.h.Emit(ctx, r.RunId, r.ItemId, EventData{Type: r.Event.Type, Data: r.Event.Data, Key: r.Event.Key})
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	return &blockv1.EmitResponse{EventId: id}, nil
}

func (s *hostServer) Schedule(ctx context.Context, r *blockv1.ScheduleRequest) (*blockv1.ScheduleResponse, error) {
	if err := s.h.Schedule(ctx, r.Key, time.UnixMilli(r.AtUnixMs), r.Payload); err != nil {
		return nil, status.Errorf(codes.Unavailable, "%v", err)
	}
	return &blockv1.ScheduleResponse{}, nil
}

func (s *hostServer) Log(ctx context.Context, r *blockv1.LogRequest) (*blockv1.LogResponse, error) {
	var attrs map[string]any
	_ = json.Unmarshal(r.Attrs, &attrs)
	s.h.Log(ctx, r.Level, r.Message, attrs)
	return &blockv1.LogResponse{}, nil
}

// MailFromProto converts a wire mail request.
func MailFromProto(r *blockv1.SendMailRequest) Mail {
	m := Mail{
		From: r.From, To: r.To, Cc: r.Cc, Bcc: r.Bcc, ReplyTo: r.ReplyTo, Subject: r.Subject,
		Text: r.Text, HTML: r.Html, IdempotencyKey: r.IdempotencyKey,
	}
	for _, a := range r.Attachments {
		m.Attachments = append(m.Attachments, Attachment{DocumentID: a.DocumentId, Filename: a.Filename})
	}
	return m
}
