// Command testblock is a step block for the engine's tests: its `with:`
// picks behaviours (emit events, fail, fail retryably, crash, hang) that
// items switch on through their fields.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/events"
)

type config struct {
	Emit    bool   `json:"emit"`
	Message string `json:"message"`
	SleepMS int    `json:"sleep_ms"`
	Tag     string `json:"tag"`
	// BehaviourField names the item field that picks a behaviour
	// (default "behaviour"), so two blocks of a workflow can differ.
	BehaviourField string `json:"behaviour_field"`
}

type block struct {
	cfg  sdk.Config
	with config
}

func (*block) Describe() sdk.Descriptor {
	return sdk.Descriptor{
		Name: "testblock", Kind: sdk.KindStep, Version: "0.0.1", Description: "engine test step",
		ConfigSchema: json.RawMessage(`{"type":"object","additionalProperties":false,"properties":{
			"emit":{"type":"boolean"},"message":{"type":"string"},"sleep_ms":{"type":"integer"},"tag":{"type":"string"},"behaviour_field":{"type":"string"}}}`),
		Events: []string{events.DocumentsCreated},
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
	field := b.with.BehaviourField
	if field == "" {
		field = "behaviour"
	}
	behaviour := str(field)
	switch behaviour {
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
	case "services":
		return b.services(ctx, it)
	case "bigdoc":
		data := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16) // 10 MiB
		doc, err := b.cfg.Host.PutDocument(ctx, "big.bin", "application/octet-stream", data)
		if err != nil {
			return sdk.Result{Err: err}
		}
		_, back, err := b.cfg.Host.GetDocument(ctx, doc.ID)
		if err != nil || !bytes.Equal(back, data) {
			return sdk.Result{Err: fmt.Errorf("big document round trip: %d bytes back, %v", len(back), err)}
		}
		return sdk.Result{Documents: []sdk.Document{doc}}
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
	if behaviour == "echo" {
		// A careless block quoting its resolved configuration.
		return sdk.Result{Err: fmt.Errorf("refused with message %q", with.Message)}
	}
	res := sdk.Result{Outputs: map[string]any{"message": with.Message, "tag": with.Tag}}
	if b.with.Emit {
		url := "http://127.0.0.1/doc/" + it.ID
		if behaviour == "bad-event" {
			url = "not a url"
		}
		ev, err := events.New(events.DocumentsCreatedData{Documents: []events.Document{
			{ID: "doc-" + it.ID, URL: url, Name: str("Name") + ".pdf", Mimetype: "application/pdf"},
		}})
		if err != nil {
			return sdk.Result{Err: err}
		}
		res.Events = append(res.Events, ev)
	}
	return res
}

// services exercises every Host service and reports what it got.
func (b *block) services(ctx context.Context, it sdk.Item) sdk.Result {
	h := b.cfg.Host
	doc, err := h.PutDocument(ctx, "hello "+it.ID+".txt", "text/plain", []byte("hello from item "+it.ID))
	if err != nil {
		return sdk.Result{Err: err}
	}
	got, data, err := h.GetDocument(ctx, doc.ID)
	if err != nil || string(data) != "hello from item "+it.ID || got.Name != doc.Name {
		return sdk.Result{Err: fmt.Errorf("get document: %v %q %+v", err, data, got)}
	}
	url, err := h.DocumentURL(ctx, doc.ID, time.Hour)
	if err != nil {
		return sdk.Result{Err: err}
	}
	m := sdk.Mail{To: []string{"ada@example.com"}, Subject: "Your document", Text: "attached",
		Attachments: []sdk.Attachment{{DocumentID: doc.ID}}, IdempotencyKey: key(it, b.cfg.BlockID)}
	id1, err := h.SendMail(ctx, m)
	if err != nil {
		return sdk.Result{Err: err}
	}
	id2, err := h.SendMail(ctx, m)
	if err != nil || id1 != id2 {
		return sdk.Result{Err: fmt.Errorf("second send with the same key: %q vs %q, %v", id1, id2, err)}
	}
	ev, _ := events.New(events.EmailsCreatedData{Emails: []events.Email{{To: "ada@example.com", Subject: "Your document", MessageID: id1}}})
	evID, err := h.Emit(ctx, it.RunID, it.ID, ev)
	if err != nil {
		return sdk.Result{Err: err}
	}
	if err := h.Schedule(ctx, "reminder-"+it.ID, time.Now().Add(50*time.Millisecond), []byte("remind "+it.ID)); err != nil {
		return sdk.Result{Err: err}
	}
	h.Log(ctx, "info", "services exercised", map[string]any{"item": it.ID})
	return sdk.Result{Outputs: map[string]any{"doc_id": doc.ID, "doc_url": url, "message_id": id1, "event_id": evID}}
}

func key(it sdk.Item, block string) string { return it.RunID + "/" + it.ID + "/" + block }

// Scheduled records the callback in Host KV, where the test looks for it.
func (b *block) Scheduled(ctx context.Context, key string, payload []byte) error {
	_, err := b.cfg.Host.KVSet(ctx, "scheduled."+key, payload)
	return err
}

// ServeHTTP answers GET /hello?name=… with the name escaped, so tests see
// block routes served through the host.
func (b *block) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/hello" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<p>hello %s from %s</p>", html.EscapeString(r.URL.Query().Get("name")), b.cfg.BlockID)
}

func main() { sdk.Serve(func() sdk.Block { return &block{} }) }
