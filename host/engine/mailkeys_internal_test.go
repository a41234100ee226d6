package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/bus"
)

// TestMailKey: the email block's keys are kept under their run; anything
// else, or a first part that cannot be a subject token, is not.
func TestMailKey(t *testing.T) {
	for _, tt := range []struct{ idempotencyKey, scope string }{
		{"20250101-000000-0123abcd/7/mail", "20250101-000000-0123abcd"},
		{"orders-web-20250101/ab12/notify", "orders-web-20250101"},
		{"item-1", unscopedMail},
		{"a/b", unscopedMail},
		{"a/b/c/d", unscopedMail},
		{"a.b/c/d", unscopedMail},
		{"/c/d", unscopedMail},
		{"unscoped/c/d", unscopedMail},
	} {
		key, legacy := mailKey(tt.idempotencyKey)
		if !strings.HasPrefix(key, "mail."+tt.scope+".") || strings.Count(key, ".") != 2 {
			t.Errorf("%q: key %s, want it under mail.%s.", tt.idempotencyKey, key, tt.scope)
		}
		if strings.Count(legacy, ".") != 1 || legacy[len("mail."):] != key[strings.LastIndex(key, ".")+1:] {
			t.Errorf("%q: earlier layout %s does not match %s", tt.idempotencyKey, legacy, key)
		}
	}
}

// TestMayHaveLegacy: a state bucket without records in the earlier layout
// costs SendMail no second lookup; one with such a record does.
func TestMayHaveLegacy(t *testing.T) {
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := b.EnsureStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key, legacy := mailKey("r/i/b")
	if _, err := st.State.Put(ctx, key, []byte("<a@example.com>")); err != nil {
		t.Fatal(err)
	}
	var fresh mailKeys
	if fresh.mayHaveLegacy(ctx, b.JS) {
		t.Error("records in the earlier layout reported in a bucket without any")
	}
	if _, err := st.State.Put(ctx, legacy, []byte("<a@example.com>")); err != nil {
		t.Fatal(err)
	}
	var upgraded mailKeys
	if !upgraded.mayHaveLegacy(ctx, b.JS) {
		t.Error("a record in the earlier layout not seen")
	}
}
