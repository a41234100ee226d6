package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/plugins/webhook/verify"
)

// itemsWorkflow takes items over HTTP and runs three no-op steps.
const itemsWorkflow = `name: intake
on:
  http: {secret: form-tool-secret}
blocks:
  - {id: one, uses: noop}
  - {id: two, uses: noop}
  - {id: three, uses: noop}
`

var buildNoop = sync.OnceValue(func() error {
	out, err := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "noop"), "../../plugins/noop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("build noop: %v\n%s", err, out)
	}
	return nil
})

// startItemsHost starts a host serving itemsWorkflow and returns its base URL.
func startItemsHost(t testing.TB) (string, *engine.Reader) {
	t.Helper()
	if err := buildNoop(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "intake.yaml")
	if err := os.WriteFile(file, []byte(itemsWorkflow), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := bus.Open(ctx, bus.Options{DataDir: filepath.Join(dir, "nats"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(ctx, engine.Options{
		Bus: b, Plugins: pluginhost.Registry{Dir: pluginDir}, PublicURL: "http://pages.example",
		Mail: mail.Outbox{Dir: filepath.Join(dir, "outbox")}, Log: log, ItemTimeout: 5 * time.Second,
	})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	srv, err := New(Config{Bus: b, Engine: e, Files: []string{file}, HTTPAddr: "127.0.0.1:0", PublicURL: "http://pages.example", APIToken: "token", Log: log})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		b.Close()
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	t.Cleanup(func() { cancel(); _ = srv.Close(); b.Close() })
	return "http://" + srv.Addr(), engine.NewReader(rctx, e.Store(), b.JS, log)
}

// outcomes waits until the run of today's http items has n outcomes.
func outcomes(t testing.TB, r *engine.Reader, n int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	runID := engine.TriggerRunID("intake", "http", time.Now())
	for {
		c, err := r.Counts(ctx, runID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Items == n && c.Succeeded == n {
			return
		}
		if c.Items > n {
			t.Fatalf("%d outcomes, more than the %d items posted", c.Items, n)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d items have an outcome", c.Items, n)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type itemsAnswer struct {
	RunID   string            `json:"run_id"`
	ItemID  string            `json:"item_id"`
	Status  string            `json:"status"`
	Outputs map[string]any    `json:"outputs"`
	Events  []json.RawMessage `json:"events"`
	Items   []struct {
		ItemID string `json:"item_id"`
		Status string `json:"status"`
	} `json:"items"`
}

func postItems(t testing.TB, url, contentType string, body []byte, header map[string]string) (int, itemsAnswer) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if _, ok := header["X-Webhook-Signature"]; !ok {
		req.Header.Set("Authorization", "Bearer token")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a itemsAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("answer %d %s: %v", resp.StatusCode, raw, err)
	}
	return resp.StatusCode, a
}

func TestItemsAPI(t *testing.T) {
	base, r := startItemsHost(t)
	url := base + "/api/workflows/intake/items"

	// ?wait= answers once the item is done.
	code, a := postItems(t, url+"?wait=30s", "application/json", []byte(`{"Name": "Ada"}`), nil)
	if code != http.StatusOK || a.Status != "succeeded" || len(a.Outputs) != 3 {
		t.Fatalf("wait: %d %+v", code, a)
	}

	// The same Idempotency-Key twice: one item, the first answer.
	key := map[string]string{"Idempotency-Key": "order-17"}
	code1, first := postItems(t, url, "application/x-ndjson", []byte("{\"n\": 1}\n{\"n\": 2}\n"), key)
	code2, second := postItems(t, url, "application/x-ndjson", []byte("{\"n\": 1}\n{\"n\": 2}\n"), key)
	if code1 != http.StatusAccepted || code2 != code1 || len(first.Items) != 2 || fmt.Sprint(first) != fmt.Sprint(second) {
		t.Fatalf("idempotent: %d %+v, then %d %+v", code1, first, code2, second)
	}
	if code, _ := postItems(t, url, "application/x-ndjson", []byte("{\"n\": 3}\n"), key); code != http.StatusUnprocessableEntity {
		t.Fatalf("the key reused with another body: %d", code)
	}

	// A form tool signs the body with the workflow's secret instead.
	form := []byte("Name=Grace&Plan=pro")
	ts := time.Now().Unix()
	sig := "t=" + strconv.FormatInt(ts, 10) + ",v1=" + verify.Sign("form-tool-secret", ts, form)
	code, signed := postItems(t, url+"?wait=30s", "application/x-www-form-urlencoded", form, map[string]string{"X-Webhook-Signature": sig})
	if code != http.StatusOK || signed.Status != "succeeded" {
		t.Fatalf("signed: %d %+v", code, signed)
	}
	if code, _ := postItems(t, url, "application/x-www-form-urlencoded", form, map[string]string{"X-Webhook-Signature": "t=1,v1=00"}); code != http.StatusUnauthorized {
		t.Fatalf("a bad signature: %d", code)
	}

	// Every item has an outcome: 1 + 2 + 1, the repeat not counted.
	outcomes(t, r, 4)
}

// TestItemsBurst posts 10,000 items one by one from 50 clients and checks
// that each has an outcome.
func TestItemsBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 posts")
	}
	base, r := startItemsHost(t)
	url := base + "/api/workflows/intake/items"
	const n, clients = 10000, 50
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < n; i += clients {
				code, a := postItems(t, url, "application/json", []byte(fmt.Sprintf(`{"i": %d}`, i)), nil)
				if code != http.StatusAccepted || len(a.Items) != 1 {
					t.Errorf("post %d: %d %+v", i, code, a)
					return
				}
				ids <- a.Items[0].ItemID
			}
		}()
	}
	wg.Wait()
	close(ids)
	var all []string
	for id := range ids {
		all = append(all, id)
	}
	sort.Strings(all)
	if len(all) != n {
		t.Fatalf("%d items accepted of %d", len(all), n)
	}
	outcomes(t, r, n)
}
