package events_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/documents"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/plugins/sdk"
	sdkevents "github.com/paperflow/paperflow/plugins/sdk/events"
)

// BenchmarkPublishBatchRecordingOrigins is BenchmarkPublishBatch with a
// documents bucket: each DOCUMENTS_CREATED of the batch names a stored
// document, whose origin the publisher records before it returns.
func BenchmarkPublishBatchRecordingOrigins(b *testing.B) {
	const batch = 64
	ctx := context.Background()
	bs, err := bus.Open(ctx, bus.Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	st, err := bs.EnsureStore(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := events.EnsureStream(ctx, bs.JS, 1, 0); err != nil {
		b.Fatal(err)
	}
	docs, err := documents.Open(ctx, bs.JS, st.Documents, st.HostKV, "http://docs.test")
	if err != nil {
		b.Fatal(err)
	}
	v, err := events.NewValidator()
	if err != nil {
		b.Fatal(err)
	}
	pub := events.NewPublisher(bs.JS, v)
	item := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		raws := make([][]byte, batch)
		for j := range raws {
			item++
			d, err := docs.Put(ctx, "a.pdf", "application/pdf", []byte("%PDF-1.7 tiny"))
			if err != nil {
				b.Fatal(err)
			}
			_, raws[j], err = events.New(events.Metadata{Workflow: "hiring", RunID: "run_1", ItemID: fmt.Sprint("row_", item), BlockID: "contract"},
				events.DocumentsCreated, sdkevents.DocumentsCreatedData{Documents: sdkevents.Documents([]sdk.Document{d})})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		for _, err := range pub.PublishBatch(ctx, raws) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}
