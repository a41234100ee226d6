package engine_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/pluginhost"
)

// TestHostServices runs a block that uses every Host service and checks
// each effect where it lands: the object store behind signed URLs, the
// outbox, the events stream and the scheduled callback.
func TestHostServices(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	wf := env.load(t, `name: services
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: svc, uses: testblock}
`, "Name,behaviour\nAda,services\nBig,bigdoc\n", nil)
	sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Succeeded != 2 {
		t.Fatalf("summary: %+v", sum)
	}
	ctx := context.Background()
	raw, ok, err := engine.ItemCheckpoint(ctx, env.bus.JS, sum.RunID, "1", "svc")
	if err != nil || !ok {
		t.Fatalf("checkpoint of item 1: found %v, %v", ok, err)
	}
	var out struct {
		DocID     string `json:"doc_id"`
		DocURL    string `json:"doc_url"`
		MessageID string `json:"message_id"`
		EventID   string `json:"event_id"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	o := out

	t.Run("documents at signed URLs", func(t *testing.T) {
		srv := httptest.NewServer(env.engine.Documents())
		defer srv.Close()
		u, _ := url.Parse(o.DocURL)
		get := func(path string) (int, string) {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := get(u.RequestURI()); code != 200 || body != "hello from item 1" {
			t.Errorf("signed URL: %d %q", code, body)
		}
		forged := strings.Replace(u.RequestURI(), "sig=", "sig=00", 1)
		if code, _ := get(forged); code != http.StatusForbidden {
			t.Errorf("forged signature: %d, want 403", code)
		}
		q := u.Query()
		q.Set("exp", "1")
		if code, _ := get(u.Path + "?" + q.Encode()); code != http.StatusForbidden {
			t.Errorf("changed expiry: %d, want 403", code)
		}
	})

	t.Run("mail once in the outbox with the attachment", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(env.dir, "outbox", "*.eml"))
		if len(files) != 1 {
			t.Fatalf("outbox has %d messages, want 1 (same idempotency key sent twice)", len(files))
		}
		raw, _ := os.ReadFile(files[0])
		for _, want := range []string{"Message-ID: " + o.MessageID, "To: <ada@example.com>", "hello 1.txt", "aGVsbG8gZnJvbSBpdGVtIDE="} {
			if !strings.Contains(string(raw), want) {
				t.Errorf("message lacks %q", want)
			}
		}
	})

	t.Run("emitted event published", func(t *testing.T) {
		evs := env.published(t, sum.RunID)
		if len(evs) != 1 || evs[0].EventID != o.EventID || evs[0].EventType != "EMAILS_CREATED" {
			t.Fatalf("events: %+v (want the emitted %s)", evs, o.EventID)
		}
	})

	t.Run("scheduled callback fires once", func(t *testing.T) {
		blk, err := pluginhost.Start(ctx, pluginhost.Spec{
			Instance: pluginhost.Instance{Workflow: "services", BlockID: "svc"}, Uses: "testblock",
			Path: filepath.Join(pluginDir, "testblock"), Config: []byte(`{}`),
		}, env.engine, hosttest.Logger(t, slog.LevelInfo))
		if err != nil {
			t.Fatal(err)
		}
		defer blk.Close()
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			_ = env.engine.ServeSchedules(sctx, func(wf, b string) *pluginhost.Block {
				if wf == "services" && b == "svc" {
					return blk
				}
				return nil
			})
		}()
		w, err := env.engine.State().Watch(ctx, "services.svc.scheduled.reminder-1")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case e := <-w.Updates():
				if e != nil && string(e.Value()) == "remind 1" {
					return
				}
			case <-deadline:
				t.Fatal("scheduled callback did not fire")
			}
		}
	})
}
