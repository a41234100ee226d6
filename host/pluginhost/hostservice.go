package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paperflow/paperflow/host/mail"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// hostServer serves the Host service to one block instance.
type hostServer struct {
	blockv1.UnimplementedHostServer
	in  Instance
	svc Services
	log *slog.Logger
}

func (h *hostServer) PutDocument(ctx context.Context, r *blockv1.PutDocumentRequest) (*blockv1.Document, error) {
	d, err := h.svc.PutDocument(ctx, r.Name, r.Mimetype, r.Data)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	return sdk.DocumentToProto(d), nil
}

func (h *hostServer) GetDocument(ctx context.Context, r *blockv1.GetDocumentRequest) (*blockv1.GetDocumentResponse, error) {
	d, data, err := h.svc.GetDocument(ctx, r.Id)
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "%v", err)
	}
	return &blockv1.GetDocumentResponse{Document: sdk.DocumentToProto(d), Data: data}, nil
}

func (h *hostServer) DocumentURL(_ context.Context, r *blockv1.DocumentURLRequest) (*blockv1.DocumentURLResponse, error) {
	u, err := h.svc.DocumentURL(r.Id, time.Duration(r.TtlSeconds)*time.Second)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	return &blockv1.DocumentURLResponse{Url: u}, nil
}

var kvSafe = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]{1,200}$`)

// stateKey scopes a block's key to its workflow and block id, so blocks
// cannot read each other's state.
func (h *hostServer) stateKey(key string) string {
	if !kvSafe.MatchString(key) || key[0] == '.' || key[len(key)-1] == '.' {
		sum := sha256.Sum256([]byte(key))
		key = "h_" + hex.EncodeToString(sum[:16])
	}
	return h.in.Workflow + "." + h.in.BlockID + "." + key
}

func (h *hostServer) KVGet(ctx context.Context, r *blockv1.KVGetRequest) (*blockv1.KVGetResponse, error) {
	e, err := h.svc.State().Get(ctx, h.stateKey(r.Key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return &blockv1.KVGetResponse{}, nil
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "kv get: %v", err)
	}
	return &blockv1.KVGetResponse{Found: true, Value: e.Value(), Revision: e.Revision()}, nil
}

func (h *hostServer) KVPut(ctx context.Context, r *blockv1.KVPutRequest) (*blockv1.KVPutResponse, error) {
	kv, key := h.svc.State(), h.stateKey(r.Key)
	var rev uint64
	var err error
	switch {
	case r.Unconditional:
		rev, err = kv.Put(ctx, key, r.Value)
	case r.ExpectRevision == 0:
		rev, err = kv.Create(ctx, key, r.Value)
	default:
		rev, err = kv.Update(ctx, key, r.Value, r.ExpectRevision)
	}
	if isConflict(err) {
		return &blockv1.KVPutResponse{Conflict: true}, nil
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "kv put: %v", err)
	}
	return &blockv1.KVPutResponse{Revision: rev}, nil
}

func isConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

func (h *hostServer) KVDelete(ctx context.Context, r *blockv1.KVDeleteRequest) (*blockv1.KVDeleteResponse, error) {
	if err := h.svc.State().Delete(ctx, h.stateKey(r.Key)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, status.Errorf(codes.Unavailable, "kv delete: %v", err)
	}
	return &blockv1.KVDeleteResponse{}, nil
}

// KVKeys lists the block's own keys: the listing is confined to its
// workflow and block prefix, as KVGet and KVPut are, and the prefix is
// taken off again.
func (h *hostServer) KVKeys(ctx context.Context, r *blockv1.KVKeysRequest) (*blockv1.KVKeysResponse, error) {
	scope := h.in.Workflow + "." + h.in.BlockID + "."
	filter := scope + ">"
	if strings.HasSuffix(r.Prefix, ".") && kvSafe.MatchString(r.Prefix) && r.Prefix[0] != '.' && !strings.Contains(r.Prefix, "..") {
		// A prefix of whole tokens ("req."): let the server filter.
		filter = scope + r.Prefix + ">"
	}
	lister, err := h.svc.State().ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "kv keys: %v", err)
	}
	var all []string
	for key := range lister.Keys() {
		all = append(all, strings.TrimPrefix(key, scope))
	}
	keys, more := sdk.KeysPage(all, r.Prefix, r.After, int(r.Limit))
	return &blockv1.KVKeysResponse{Keys: keys, More: more}, nil
}

func (h *hostServer) SendMail(ctx context.Context, r *blockv1.SendMailRequest) (*blockv1.SendMailResponse, error) {
	m := sdk.Mail{
		From: r.From, To: r.To, Cc: r.Cc, Bcc: r.Bcc, ReplyTo: r.ReplyTo, Subject: r.Subject,
		Text: r.Text, HTML: r.Html, IdempotencyKey: r.IdempotencyKey,
	}
	for _, a := range r.Attachments {
		m.Attachments = append(m.Attachments, sdk.Attachment{DocumentID: a.DocumentId, Filename: a.Filename})
	}
	id, err := h.svc.SendMail(ctx, m)
	if err != nil {
		code := codes.InvalidArgument
		if mail.IsTransient(err) {
			code = codes.Unavailable // the block retries the item later
		}
		return nil, status.Errorf(code, "%v", err)
	}
	return &blockv1.SendMailResponse{MessageId: id}, nil
}

func (h *hostServer) Emit(ctx context.Context, r *blockv1.EmitRequest) (*blockv1.EmitResponse, error) {
	if r.Event == nil {
		return nil, status.Error(codes.InvalidArgument, "emit: no event")
	}
	id, err := h.svc.Emit(ctx, h.in, r.RunId, r.ItemId, sdk.EventData{Type: r.Event.Type, Data: r.Event.Data, Key: r.Event.Key})
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	return &blockv1.EmitResponse{EventId: id}, nil
}

func (h *hostServer) Schedule(ctx context.Context, r *blockv1.ScheduleRequest) (*blockv1.ScheduleResponse, error) {
	if err := h.svc.Schedule(ctx, h.in, r.Key, time.UnixMilli(r.AtUnixMs), r.Payload); err != nil {
		return nil, status.Errorf(codes.Unavailable, "%v", err)
	}
	return &blockv1.ScheduleResponse{}, nil
}

func (h *hostServer) Log(ctx context.Context, r *blockv1.LogRequest) (*blockv1.LogResponse, error) {
	var attrs map[string]any
	_ = json.Unmarshal(r.Attrs, &attrs)
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(r.Level))
	args := make([]slog.Attr, 0, len(attrs))
	for k, v := range attrs {
		args = append(args, slog.Any(k, v))
	}
	h.log.LogAttrs(ctx, level, r.Message, args...)
	return &blockv1.LogResponse{}, nil
}
