package events

import (
	"encoding/json"
	"testing"
)

// BenchmarkNew is the envelope building of every event a block emits: its
// data arrives as bytes.
func BenchmarkNew(b *testing.B) {
	meta := Metadata{Workflow: "hiring", RunID: "run_1", ItemID: "row_1", BlockID: "contract", CreatedAt: exampleTime}
	data, _ := json.Marshal(exampleData(DocumentsCreated))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := New(meta, DocumentsCreated, json.RawMessage(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewAndCheck is what the engine does for each event of a batch
// before publishing: build the envelope, then Check it.
func BenchmarkNewAndCheck(b *testing.B) {
	v := testValidator(b)
	for _, typ := range []Type{DocumentsCreated, EmailsCreated, SignaturesDeclined} {
		meta := Metadata{Workflow: "hiring", RunID: "run_1", ItemID: "row_1", BlockID: "contract", CreatedAt: exampleTime}
		data, _ := json.Marshal(exampleData(typ))
		b.Run(string(typ), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, raw, err := New(meta, typ, json.RawMessage(data))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := v.Check(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheck is Check alone on events as New builds them.
func BenchmarkCheck(b *testing.B) {
	v := testValidator(b)
	for _, typ := range []Type{DocumentsCreated, EmailsCreated, SignaturesDeclined} {
		meta := Metadata{Workflow: "hiring", RunID: "run_1", ItemID: "row_1", BlockID: "contract", CreatedAt: exampleTime}
		data, _ := json.Marshal(exampleData(typ))
		_, raw, err := New(meta, typ, json.RawMessage(data))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(typ), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Check(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
