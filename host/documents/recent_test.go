package documents

import (
	"fmt"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
)

func TestRecentDocs(t *testing.T) {
	const size = recentLimit / 16
	doc := func(i int) sdk.Document { return sdk.Document{ID: fmt.Sprintf("d%d", i), Name: "a.pdf"} }
	tests := []struct {
		name string
		// add is how many documents of size bytes are added; read are
		// the ones taken right after being added.
		add  int
		read func(i int) bool
		// kept and gone are documents expected in the cache, and not,
		// once every one was added.
		kept, gone []int
		maxOrder   int
	}{
		{name: "unread documents up to the limit", add: 16, read: func(int) bool { return false }, kept: []int{0, 15}, maxOrder: 16},
		{name: "the oldest unread goes first", add: 20, read: func(int) bool { return false }, kept: []int{4, 19}, gone: []int{0, 3}, maxOrder: 16},
		{name: "a read document leaves", add: 4, read: func(i int) bool { return i == 1 }, kept: []int{0, 2, 3}, gone: []int{1}, maxOrder: 4},
		// The 100th document, added before it is read, pushes out the 35th
		// unread one (document 68).
		{name: "read documents leave room for more", add: 100, read: func(i int) bool { return i%2 == 1 }, kept: []int{70, 98}, gone: []int{68, 99}, maxOrder: 33},
		{name: "every document read keeps no ids", add: 1000, read: func(int) bool { return true }, gone: []int{0, 999}, maxOrder: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recentDocs
			for i := range tt.add {
				r.add(doc(i), make([]byte, size))
				if tt.read(i) {
					if _, data, ok := r.take(doc(i).ID); !ok || len(data) != size {
						t.Fatalf("take %d right after add: ok %v, %d bytes", i, ok, len(data))
					}
				}
				if len(r.order) > tt.maxOrder {
					t.Fatalf("after %d adds the cache remembers %d ids, want at most %d", i+1, len(r.order), tt.maxOrder)
				}
			}
			if r.bytes > recentLimit {
				t.Errorf("cache holds %d bytes, over the limit %d", r.bytes, recentLimit)
			}
			for _, i := range tt.kept {
				d, data, ok := r.take(doc(i).ID)
				if !ok || len(data) != size || d.Name != "a.pdf" || d.Size != size {
					t.Errorf("document %d: ok %v, %d bytes, %+v; want it kept", i, ok, len(data), d)
				}
				if _, _, again := r.take(doc(i).ID); again {
					t.Errorf("document %d taken twice", i)
				}
			}
			for _, i := range tt.gone {
				if _, _, ok := r.take(doc(i).ID); ok {
					t.Errorf("document %d still kept", i)
				}
			}
		})
	}
}

func TestRecentDocsSkipsLargeDocuments(t *testing.T) {
	var r recentDocs
	r.add(sdk.Document{ID: "big"}, make([]byte, recentLimit/8+1))
	if _, _, ok := r.take("big"); ok || r.bytes != 0 {
		t.Errorf("a document over recentLimit/8 was kept (%d bytes held)", r.bytes)
	}
}

// A document never read keeps the front of the cache's order; the ids of
// documents read after it must not pile up behind it for good.
func TestRecentDocsForgetReadIDsBehindAnUnreadOne(t *testing.T) {
	var r recentDocs
	doc := func(i int) sdk.Document { return sdk.Document{ID: fmt.Sprintf("%032x", i), Name: "a.pdf"} }
	r.add(doc(0), make([]byte, 1<<10)) // never read
	for i := 1; i <= 10000; i++ {
		r.add(doc(i), make([]byte, 1<<10))
		if _, _, ok := r.take(doc(i).ID); !ok {
			t.Fatalf("document %d not in the cache right after it was added", i)
		}
	}
	if len(r.order) > 2*len(r.docs)+64 {
		t.Errorf("order holds %d ids for %d cached documents", len(r.order), len(r.docs))
	}
	if _, _, ok := r.take(doc(0).ID); !ok {
		t.Error("the unread document left the cache")
	}
}
