package sdktest_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/sdktest"
	"github.com/paperflow/paperflow/plugins/sdk/sdktest/testdata/echo/block"
)

// runners are the two ways to run the echo block; every test below must
// see the same behaviour from both.
func runners(t *testing.T) map[string]sdktest.Runner {
	out := map[string]sdktest.Runner{"in process": sdktest.InProcess(block.New)}
	if !testing.Short() {
		out["plugin"] = sdktest.Plugin(t, sdktest.Build(t, "testdata/echo"))
	}
	return out
}

func TestProcessThroughBothRunners(t *testing.T) {
	for name, r := range runners(t) {
		t.Run(name, func(t *testing.T) {
			h := sdktest.NewHost()
			out := sdktest.Process(t, r, sdktest.Config{With: `{"greeting": "Hello"}`, Host: h},
				map[string]any{"Name": "Ada"}, map[string]any{})
			if len(out.Results) != 2 {
				t.Fatalf("results: %+v", out.Results)
			}
			ok, bad := out.Results[0], out.Results[1]
			if ok.Err != "" || ok.Outputs["text"] != "Hello, Ada" || len(ok.Documents) != 1 {
				t.Errorf("item 1: %+v", ok)
			}
			if bad.Err == "" || !bad.Retryable {
				t.Errorf("item 2: want a retryable error, got %+v", bad)
			}
			docs := h.Documents()
			if len(docs) != 1 || string(docs[0].Data) != "Hello, Ada" || docs[0].ID != ok.Documents[0].ID {
				t.Errorf("documents: %+v", docs)
			}
			if st := h.State(); string(st["seen.1"]) != "Ada" {
				t.Errorf("state: %q", st)
			}
			if m := h.MailsTo("Ada@example.com"); len(m) != 1 || m[0].Subject != "Hello, Ada" {
				t.Errorf("mails: %+v", h.Mails())
			}
			if s := h.Schedules(); len(s) != 1 || s[0].Key != "remind.1" {
				t.Errorf("schedules: %+v", s)
			}
			if l := h.Logs(); len(l) != 1 || l[0].Message != "greeted" {
				t.Errorf("logs: %+v", l)
			}
			if ev := out.Events(); len(ev) != 1 || ev[0].Type != "DOCUMENTS_CREATED" {
				t.Errorf("events: %+v", ev)
			}
		})
	}
}

func TestConfigureRejectionAndSchedules(t *testing.T) {
	ctx := context.Background()
	for name, r := range runners(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := r.Configure(ctx, sdktest.Config{With: `{}`}); err == nil || err.Error() != "greeting is required" {
				t.Errorf("configure without greeting: %v", err)
			}
			h := sdktest.NewHost()
			in, err := r.Configure(ctx, sdktest.Config{With: `{"greeting": "Hi"}`, Host: h})
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			if err := in.Scheduled(ctx, "remind.7", []byte("7")); err != nil {
				t.Fatal(err)
			}
			if err := in.Scheduled(ctx, "remind.7", []byte("7")); err != nil {
				t.Fatal(err)
			}
			if ev := h.Emitted("SIGNATURES_EXPIRED"); len(ev) != 1 || ev[0].ItemID != "7" {
				t.Errorf("emitted (a repeat is dropped): %+v", ev)
			}
			if _, err := in.Read(ctx, sdk.ReadRequest{RunID: "r"}); err == nil {
				t.Error("read from a step: want an error")
			}
		})
	}
}

func TestKVCompareAndSet(t *testing.T) {
	ctx := context.Background()
	h := sdktest.NewHost()
	rev, err := h.KVPut(ctx, "k", []byte("a"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.KVPut(ctx, "k", []byte("b"), 0); !errors.Is(err, sdk.ErrConflict) {
		t.Errorf("create over an existing key: %v", err)
	}
	if _, err := h.KVPut(ctx, "k", []byte("b"), rev+1); !errors.Is(err, sdk.ErrConflict) {
		t.Errorf("update at a wrong revision: %v", err)
	}
	if _, err := h.KVPut(ctx, "k", []byte("b"), rev); err != nil {
		t.Errorf("update at the current revision: %v", err)
	}
	v, _, found, _ := h.KVGet(ctx, "k")
	if !found || string(v) != "b" {
		t.Errorf("get: %q %v", v, found)
	}
	_ = h.KVDelete(ctx, "k")
	if _, _, found, _ := h.KVGet(ctx, "k"); found {
		t.Error("deleted key still found")
	}
}

func TestKVKeysPages(t *testing.T) {
	ctx := context.Background()
	h := sdktest.NewHost()
	for _, k := range []string{"req.b", "tok.x", "req.a", "req.c"} {
		if _, err := h.KVSet(ctx, k, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	keys, more, err := h.KVKeys(ctx, "req.", "", 2)
	if err != nil || !slices.Equal(keys, []string{"req.a", "req.b"}) || !more {
		t.Fatalf("first page: %v %v %v", keys, more, err)
	}
	keys, more, err = h.KVKeys(ctx, "req.", keys[len(keys)-1], 2)
	if err != nil || !slices.Equal(keys, []string{"req.c"}) || more {
		t.Errorf("second page: %v %v %v", keys, more, err)
	}
}
