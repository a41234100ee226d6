// Package origin keeps, in a document's object metadata, which workflow,
// run, item and block made it, so the host can say whose document was
// fetched when one of its links is used (DOCUMENT_DOWNLOADED). A block
// stores a document before the host knows which item it is for; the host
// learns that from the event that announces it, so the events publisher
// records the origin (Record) and the document store reads it (Of).
package origin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Origin is where a document was made.
type Origin struct {
	Workflow, RunID, ItemID, BlockID string
}

// The object metadata headers that hold an Origin.
const (
	headerWorkflow = "Paperflow-Workflow"
	headerRun      = "Paperflow-Run"
	headerItem     = "Paperflow-Item"
	headerBlock    = "Paperflow-Block"
)

// Of reads the origin recorded in an object's headers; ok is false when
// none is (an uploaded file, a document no event has announced yet).
func Of(h nats.Header) (o Origin, ok bool) {
	o = Origin{Workflow: h.Get(headerWorkflow), RunID: h.Get(headerRun), ItemID: h.Get(headerItem), BlockID: h.Get(headerBlock)}
	return o, o.Workflow != "" && o.RunID != "" && o.ItemID != "" && o.BlockID != ""
}

// Record writes o into the metadata of document id, keeping everything
// else. The first origin recorded stays: a document announced again (a
// retried item publishes its events again) keeps where it was made. A
// document that is gone (expired) is no error.
//
// It reads the object's info and writes it back with the origin added, as
// ObjectStore.UpdateMeta does but without reading the info a second time
// (a rolled-up message on the object's meta subject, through js).
func Record(ctx context.Context, js jetstream.JetStream, objects jetstream.ObjectStore, id string, o Origin) error {
	info, err := objects.GetInfo(ctx, id)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("document %s: read metadata: %w", id, err)
	}
	if _, ok := Of(info.Headers); ok {
		return nil
	}
	h := nats.Header{}
	for k, v := range info.Headers {
		h[k] = v
	}
	h.Set(headerWorkflow, o.Workflow)
	h.Set(headerRun, o.RunID)
	h.Set(headerItem, o.ItemID)
	h.Set(headerBlock, BlockOf(o.BlockID))
	info.Headers = h
	info.ModTime = time.Time{} // not stored, as the object store writes it
	raw, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("document %s: record origin: %w", id, err)
	}
	m := nats.NewMsg("$O." + info.Bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(info.Name)))
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	m.Data = raw
	if _, err := js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("document %s: record origin: %w", id, err)
	}
	return nil
}

// BlockOf is the block id in an event's metadata.block_id, which is
// "<block>#<n>" for a block's second and later events of one type.
func BlockOf(eventBlockID string) string {
	id, _, _ := strings.Cut(eventBlockID, "#")
	return id
}
