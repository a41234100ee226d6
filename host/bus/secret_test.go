package bus_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/paperflow/paperflow/host/bus"
)

func TestCreateSecret(t *testing.T) {
	kv := linesBucket(t)
	ctx := context.Background()
	theirs := bytes.Repeat([]byte{7}, bus.SecretSize)
	if _, err := kv.Create(ctx, "theirs", theirs); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  string
		want []byte // nil: a new random key
		fail bool   // NATS refuses the key
	}{
		{name: "made", key: "mine"},
		{name: "another host's first", key: "theirs", want: theirs},
		{name: "refused", key: "bad.*", fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bus.CreateSecret(ctx, kv, tt.key)
			if tt.fail {
				if err == nil {
					t.Errorf("no error, key %x", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && !bytes.Equal(got, tt.want) {
				t.Errorf("key %x, want theirs %x", got, tt.want)
			}
			if len(got) != bus.SecretSize || bytes.Equal(got, make([]byte, bus.SecretSize)) {
				t.Errorf("key %x is not %d random bytes", got, bus.SecretSize)
			}
			e, err := kv.Get(ctx, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(e.Value(), got) {
				t.Errorf("returned %x, stored %x", got, e.Value())
			}
		})
	}
}

// TestCreateSecretAtOnce: hosts starting together all end up with the
// one key stored.
func TestCreateSecretAtOnce(t *testing.T) {
	kv := linesBucket(t)
	ctx := context.Background()
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := bus.CreateSecret(ctx, kv, "shared")
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for i, k := range keys {
		if !bytes.Equal(k, keys[0]) {
			t.Errorf("host %d has key %x, host 0 %x", i, k, keys[0])
		}
	}
}
