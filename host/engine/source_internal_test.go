package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// feedChunks cuts items (numbered from their ids) into chunks as feed
// does, the source handing them over in batches of the sizes given (the
// last repeated), and names each chunk by its first and last item.
func feedChunks(items []itemMsg, chunk int, batches []int) []string {
	return cutFeed(items, cutter{chunk: chunk}, batches)
}

// cutFeed is feedChunks with a cutter that may know of recorded cuts.
func cutFeed(items []itemMsg, c cutter, batches []int) []string {
	var out []string
	var held []itemMsg
	add := func(final bool) {
		if len(held) == 0 {
			return
		}
		first, _ := strconv.ParseInt(held[0].ID, 10, 64)
		chunks, rest := c.cut(held, first, final)
		for _, c := range chunks {
			out = append(out, c[0].ID+"-"+c[len(c)-1].ID)
		}
		held = rest
	}
	for i, b := 0, 0; i < len(items); b++ {
		n := batches[min(b, len(batches)-1)]
		n = min(n, len(items)-i)
		held = append(held, items[i:i+n]...)
		i += n
		add(false)
	}
	add(true)
	return out
}

// TestChunksDoNotDependOnTheSourceBatches: a host that takes a run's
// source over reads it again from the end of a chunk of the host before,
// its source perhaps batching otherwise: it must cut the same chunks from
// there, or items would be queued twice (or, with the same id for other
// items, lost).
func TestChunksDoNotDependOnTheSourceBatches(t *testing.T) {
	items := make([]itemMsg, 1000)
	for i := range items {
		fields := `{"n":` + strconv.Itoa(i) + `}`
		if i%97 == 0 {
			// Large items end chunks early.
			fields = `{"pad":"` + strings.Repeat("x", maxChunkBytes/3) + `"}`
		}
		items[i] = itemMsg{ID: strconv.Itoa(i + 1), Fields: json.RawMessage(fields)}
	}
	for _, chunk := range []int{1, 2, 64, 100, 256} {
		t.Run(fmt.Sprintf("chunk %d", chunk), func(t *testing.T) {
			want := feedChunks(items, chunk, []int{256})
			for _, batches := range [][]int{{1}, {7}, {100}, {1000}, {3, 250, 17}} {
				if got := feedChunks(items, chunk, batches); !slices.Equal(got, want) {
					t.Fatalf("source batches %v: chunks\n%v\nwant\n%v", batches, got, want)
				}
			}
			// A takeover at the end of any chunk, batching otherwise,
			// cuts the chunks that follow.
			for i, c := range want[:len(want)-1] {
				last, _ := strconv.Atoi(c[strings.Index(c, "-")+1:])
				if got := feedChunks(items[last:], chunk, []int{33}); !slices.Equal(got, want[i+1:]) {
					t.Fatalf("taken over after item %d: chunks %v, want %v", last, got, want[i+1:])
				}
			}
		})
	}
}

// TestRecordedCutsHoldWhenTheSourceChanges: a host that takes a run's
// source over, with the ends of the chunks cut short that the host before
// recorded, cuts the chunks of the host before even where the source
// reads otherwise now: items that shrank (a chunk cut short for size
// before), and a source that grew past where it ended.
func TestRecordedCutsHoldWhenTheSourceChanges(t *testing.T) {
	const chunk = 50
	items := func(n int, big func(int) bool) []itemMsg {
		out := make([]itemMsg, n)
		for i := range out {
			fields := `{"n":` + strconv.Itoa(i+1) + `}`
			if big != nil && big(i+1) {
				fields = `{"pad":"` + strings.Repeat("x", maxChunkBytes/5) + `"}`
			}
			out[i] = itemMsg{ID: strconv.Itoa(i + 1), Fields: json.RawMessage(fields)}
		}
		return out
	}
	// shortEnds is what feed records: the ends of the chunks cut short.
	shortEnds := func(chunks []string) []int64 {
		var ends []int64
		for _, c := range chunks {
			from, to, _ := strings.Cut(c, "-")
			f, _ := strconv.ParseInt(from, 10, 64)
			l, _ := strconv.ParseInt(to, 10, 64)
			if l-f+1 < chunk {
				ends = append(ends, l)
			}
		}
		return ends
	}
	for _, tc := range []struct {
		name        string
		before, now []itemMsg
		// from is the last item the record counts queued (the end of a
		// chunk).
		from int
	}{
		{"items shrank after a chunk was cut short for size", items(300, func(i int) bool { return i > 100 && i <= 110 }), items(300, nil), 100},
		{"items shrank, taken over from the start", items(300, func(i int) bool { return i > 100 && i <= 110 }), items(300, nil), 0},
		{"the source grew past its end", items(130, nil), items(164, nil), 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := feedChunks(tc.before, chunk, []int{256})
			c := cutter{chunk: chunk, cuts: mergeCuts(nil, shortEnds(want), int64(tc.from))}
			var skip int
			for i, ch := range want {
				if strings.HasSuffix(ch, "-"+strconv.Itoa(tc.from)) {
					skip = i + 1
				}
			}
			want = want[skip:]
			// The chunks the host before queued, and what follows them.
			head := func(chunks []string) []string { return chunks[:min(len(chunks), len(want))] }
			if got := cutFeed(tc.now[tc.from:], c, []int{33}); !slices.Equal(head(got), want) {
				t.Errorf("chunks after item %d\n%v\nwant\n%v", tc.from, got, want)
			}
			if got := feedChunks(tc.now[tc.from:], chunk, []int{33}); slices.Equal(head(got), want) {
				t.Errorf("without the recorded cuts the chunks are the same: the case tests nothing")
			}
		})
	}
}

// TestChunkMessages: a run queued one item per message (chunk 1, as runs
// were before chunks) keeps the old message and id; a chunk names its
// first and last item. Both read back as queue messages.
func TestChunkMessages(t *testing.T) {
	items := []itemMsg{{ID: "5", Origin: "a.csv:6", Fields: json.RawMessage(`{"n":5}`)}, {ID: "6", Error: "bad row"}, {ID: "7"}}
	for _, tc := range []struct {
		name  string
		items []itemMsg
		chunk int
		id    string
		want  queueMsg
	}{
		{"one item per message", items[:1], 1, "run.5", queueMsg{itemMsg: items[0]}},
		{"a chunk", items, 3, "run.5-7", queueMsg{Items: items}},
		{"the last chunk, short", items[2:], 3, "run.7-7", queueMsg{Items: items[2:]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := chunkMsg("paperflow.items.wf.run", "run", tc.items, tc.chunk)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Header.Get("Nats-Msg-Id"); got != tc.id {
				t.Errorf("message id %q, want %q", got, tc.id)
			}
			if tc.chunk == 1 {
				var old itemMsg
				if err := json.Unmarshal(m.Data, &old); err != nil || !reflect.DeepEqual(old, tc.items[0]) {
					t.Errorf("%s does not read as an item: %+v, %v", m.Data, old, err)
				}
			}
			got, err := decodeQueueMsg(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s reads as %+v, want %+v", m.Data, got, tc.want)
			}
		})
	}
}

// TestDecodeQueueMsg reads the JSON messages queued before chunks were
// encoded (and still queued for single items), refuses a chunk that is
// cut short rather than reading part of it, and tells a format of a later
// version (to be handed back) from a message that is unreadable.
func TestDecodeQueueMsg(t *testing.T) {
	whole, err := encodeChunk([]itemMsg{{ID: "1", Fields: json.RawMessage(`{"n":1}`)}, {ID: "2", Origin: "b.csv:3"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		want  queueMsg
		bad   bool
		newer bool
	}{
		{"a JSON chunk", []byte(`{"items":[{"id":"1","fields":{"n":1}},{"id":"2","origin":"b.csv:3"}]}`),
			queueMsg{Items: []itemMsg{{ID: "1", Fields: json.RawMessage(`{"n":1}`)}, {ID: "2", Origin: "b.csv:3"}}}, false, false},
		{"a JSON item split out to be tried again", []byte(`{"id":"3","error":"x","tried":2,"hold_ms":500}`),
			queueMsg{itemMsg: itemMsg{ID: "3", Error: "x"}, Tried: 2, HoldMS: 500}, false, false},
		{"an encoded chunk", whole, queueMsg{Items: []itemMsg{{ID: "1", Fields: json.RawMessage(`{"n":1}`)}, {ID: "2", Origin: "b.csv:3"}}}, false, false},
		{"an encoded chunk cut short", whole[:len(whole)-3], queueMsg{}, true, false},
		{"an empty chunk", []byte{chunkMark}, queueMsg{}, true, false},
		{"not JSON", []byte("items"), queueMsg{}, true, false},
		{"JSON opening with whitespace", []byte("\n\t {\"id\":\"4\"}"), queueMsg{itemMsg: itemMsg{ID: "4"}}, false, false},
		{"a chunk format of a later version", append([]byte{0x02}, whole[1:]...), queueMsg{}, true, true},
		{"a format of a later version without a body", []byte{0x1f}, queueMsg{}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeQueueMsg(tc.data)
			if (err != nil) != tc.bad {
				t.Fatalf("error %v, want one: %v", err, tc.bad)
			}
			if errors.Is(err, errNewerFormat) != tc.newer {
				t.Errorf("error %v, want a later version's format: %v", err, tc.newer)
			}
			if !tc.bad && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("read %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := encodeChunk([]itemMsg{{ID: "1", Fields: json.RawMessage(`{"n":`)}}); err == nil {
		t.Error("fields that are not JSON were queued")
	}
}
