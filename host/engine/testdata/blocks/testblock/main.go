// Command testblock is a step block for the engine's tests: its `with:`
// picks behaviours (emit events, fail, fail retryably, crash, hang) that
// items switch on through their fields.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
)

type config struct {
	Emit    bool   `json:"emit"`
	Message string `json:"message"`
	SleepMS int    `json:"sleep_ms"`
	Tag     string `json:"tag"`
}

type block struct {
	cfg  sdk.Config
	with config
}

func (*block) Describe() sdk.Descriptor {
	return sdk.Descriptor{
		Name: "testblock", Kind: sdk.KindStep, Version: "0.0.1", Description: "engine test step",
		ConfigSchema: json.RawMessage(`{"type":"object","additionalProperties":false,"properties":{
			"emit":{"type":"boolean"},"message":{"type":"string"},"sleep_ms":{"type":"integer"},"tag":{"type":"string"}}}`),
		Events: []string{"DOCUMENTS_CREATED"},
	}
}

func (b *block) Configure(_ context.Context, c sdk.Config) error {
	b.cfg = c
	return c.Decode(&b.with)
}

// firstTime records in Host KV that key happened; it reports whether this
// is the first time (so a crash or hang happens once per item).
func (b *block) firstTime(ctx context.Context, key string) bool {
	_, err := b.cfg.Host.KVPut(ctx, key, []byte("1"), 0)
	return err == nil
}

func (b *block) Process(ctx context.Context, items []sdk.Item) []sdk.Result {
	if b.with.SleepMS > 0 {
		time.Sleep(time.Duration(b.with.SleepMS) * time.Millisecond)
	}
	out := make([]sdk.Result, len(items))
	for i, it := range items {
		out[i] = b.one(ctx, it)
	}
	return out
}

func (b *block) one(ctx context.Context, it sdk.Item) sdk.Result {
	fields, err := it.Fields()
	if err != nil {
		return sdk.Result{Err: err}
	}
	str := func(k string) string { s, _ := fields[k].(string); return s }
	key := it.RunID + "." + it.ID + "." + b.cfg.BlockID
	switch str("behaviour") {
	case "fail":
		return sdk.Result{Err: errors.New("refused: item asked to fail")}
	case "panic":
		panic("item asked to panic")
	case "crash":
		if b.firstTime(ctx, "crash."+key) {
			os.Exit(3)
		}
	case "hang":
		if b.firstTime(ctx, "hang."+key) {
			select {}
		}
	case "flaky":
		n := 0
		if v, _, ok, _ := b.cfg.Host.KVGet(ctx, "flaky."+key); ok {
			n, _ = strconv.Atoi(string(v))
		}
		_, _ = b.cfg.Host.KVSet(ctx, "flaky."+key, []byte(strconv.Itoa(n+1)))
		if n < 2 {
			return sdk.Result{Err: sdk.Retryable(fmt.Errorf("transient failure %d", n+1))}
		}
	}
	var with config
	if err := it.DecodeConfig(b.cfg.With, &with); err != nil {
		return sdk.Result{Err: err}
	}
	res := sdk.Result{Outputs: map[string]any{"message": with.Message, "tag": with.Tag}}
	if b.with.Emit {
		url := "http://127.0.0.1/doc/" + it.ID
		if str("behaviour") == "bad-event" {
			url = "not a url"
		}
		ev, err := sdk.NewEvent("DOCUMENTS_CREATED", map[string]any{"documents": []map[string]any{
			{"id": "doc-" + it.ID, "url": url, "name": str("Name") + ".pdf", "mimetype": "application/pdf"},
		}})
		if err != nil {
			return sdk.Result{Err: err}
		}
		res.Events = append(res.Events, ev)
	}
	return res
}

func main() { sdk.Serve(&block{}) }
