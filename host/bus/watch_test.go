package bus_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
)

// fakeWatcher hands out the entries put on its channel.
type fakeWatcher chan jetstream.KeyValueEntry

func (w fakeWatcher) Updates() <-chan jetstream.KeyValueEntry { return w }
func (w fakeWatcher) Stop() error                             { return nil }

// keyEntry is an entry that only has a key.
type keyEntry struct{ jetstream.KeyValueEntry }

func (e keyEntry) Key() string { return "k" }

func TestEntries(t *testing.T) {
	tests := []struct {
		name   string
		sent   []jetstream.KeyValueEntry
		close  bool // the watch breaks after sent
		cancel bool // ctx ends after sent
		take   int  // the loop breaks after this many (0: never)
		want   int  // entries seen
		nils   int  // of which nil (end of the initial values)
	}{
		{name: "watch breaks", sent: []jetstream.KeyValueEntry{keyEntry{}, nil, keyEntry{}}, close: true, want: 3, nils: 1},
		{name: "ctx ends", sent: []jetstream.KeyValueEntry{keyEntry{}}, cancel: true, want: 1},
		{name: "loop breaks", sent: []jetstream.KeyValueEntry{keyEntry{}, keyEntry{}}, close: true, take: 1, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := make(fakeWatcher, len(tt.sent))
			for _, e := range tt.sent {
				w <- e
			}
			if tt.close {
				close(w)
			}
			seen, nils := 0, 0
			for e := range bus.Entries(ctx, w) {
				seen++
				if e == nil {
					nils++
				} else if e.Key() != "k" {
					t.Fatalf("entry %d has key %q", seen, e.Key())
				}
				if tt.cancel && seen == len(tt.sent) {
					cancel()
				}
				if seen == tt.take {
					break
				}
			}
			if seen != tt.want || nils != tt.nils {
				t.Errorf("saw %d entries (%d nil), want %d (%d nil)", seen, nils, tt.want, tt.nils)
			}
		})
	}
}
