package events

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk/jsonvalue"
)

// newThroughEncoder is New as it was written before it built the envelope
// by hand: the reference its bytes and errors must match.
func newThroughEncoder(meta Metadata, t Type, data any) ([]byte, error) {
	if _, err := ParseType(string(t)); err != nil {
		return nil, err
	}
	raw, err := jsonvalue.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("event %s from block %q: encode data: %w", t, meta.BlockID, err)
	}
	meta.CreatedAt = meta.CreatedAt.UTC()
	env := Envelope{
		EventID:   KeyedID(meta.Workflow, meta.RunID, meta.ItemID, meta.BlockID, t, meta.Key),
		EventType: t,
		Data:      raw,
		Metadata:  meta,
	}
	b, err := jsonvalue.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("event %s from block %q: encode envelope: %w", t, meta.BlockID, err)
	}
	return b, nil
}

// awkward are strings encoding/json escapes in every way it has.
var awkward = []string{
	"", "hiring", `quote " and \ backslash`, "<html> & co", "tab\there\nnew\rline\bback\fform", "\x00\x01\x1f\x7f",
	"bad utf-8 \xff\xfe and cut \xe2\x82", "line\u2028para\u2029sep", "é, 中文, 🙂", "\u00a0\ufeff",
}

func TestNewWritesWhatTheEncoderWrote(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("x", 5*3600+30*60)
	datas := []any{
		json.RawMessage(`{"documents":[{"id":"d1","url":"https://x.example/d1","name":"a.pdf","mimetype":"application/pdf"}]}`),
		json.RawMessage(" {\n\t\"a\" : [ 1 , 2.50 , -0 , 1e3 ] , \"b\":\"<&>\\u003c\\u2028\" } "),
		json.RawMessage(`"just a string"`),
		json.RawMessage(nil),
		json.RawMessage(`{"a":`),
		json.RawMessage(`{} {}`),
		map[string]any{"emails": []any{map[string]any{"to": "a@b.c", "message_id": "<x@y>"}}},
		struct{ A string }{"<&>"},
		nil,
		func() {},
	}
	times := []time.Time{
		time.Date(2026, 3, 14, 9, 26, 53, 123456789, time.UTC),
		time.Date(2026, 3, 14, 9, 26, 53, 0, zone),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for i, s := range awkward {
		for j, data := range datas {
			meta := Metadata{Workflow: s, RunID: "run " + s, ItemID: s + "item", BlockID: s, CreatedAt: times[(i+j)%len(times)], Key: s}
			_, got, err := New(meta, DocumentsCreated, data)
			want, wantErr := newThroughEncoder(meta, DocumentsCreated, data)
			if string(got) != string(want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Errorf("string %d, data %d:\n got %s, %v\nwant %s, %v", i, j, got, err, want, wantErr)
			}
		}
	}
}

func FuzzNew(f *testing.F) {
	for _, s := range awkward {
		f.Add(s, s, `{"a":"`+s+`"}`)
	}
	f.Fuzz(func(t *testing.T, workflow, item, data string) {
		meta := Metadata{Workflow: workflow, RunID: "run_1", ItemID: item, BlockID: "b", CreatedAt: exampleTime}
		env, got, err := New(meta, EmailsCreated, json.RawMessage(data))
		want, wantErr := newThroughEncoder(meta, EmailsCreated, json.RawMessage(data))
		if string(got) != string(want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("got %s, %v\nwant %s, %v", got, err, want, wantErr)
		}
		if err == nil && !json.Valid(env.Data) {
			t.Fatalf("Data %q is not JSON", env.Data)
		}
	})
}
