package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/mail/smtptest"
	"github.com/paperflow/paperflow/plugins/webhook/verify"
)

// receiver counts signed webhook deliveries by webhook-id.
type receiver struct {
	mu      sync.Mutex
	byID    map[string]int
	refused int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := (verify.Verifier{Secrets: []string{faultSecret}}).Request(r); err != nil {
		rc.mu.Lock()
		rc.refused++
		rc.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	rc.mu.Lock()
	rc.byID[r.Header.Get("webhook-id")]++
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) counts() (unique, duplicated, refused int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.byID {
		if n > 1 {
			duplicated++
		}
	}
	return len(rc.byID), duplicated, rc.refused
}

const faultSecret = "whsec_cGFwZXJmbG93IGZhdWx0IHRlc3Qgc2VjcmV0IQ=="

// TestFaultsEveryEmailAndDeliveryOnce runs items through a block whose
// process dies mid-batch, an email step whose SMTP server drops every
// fourth message mid-DATA, and a webhook sink whose receiver is down for
// the first seconds. Afterwards every item succeeded, every event is in
// the stream once, every email arrived once and every event was delivered
// once.
func TestFaultsEveryEmailAndDeliveryOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	t.Parallel()
	const items = 40
	smtp := smtptest.Start(t, smtptest.Options{OnData: func(n int, _ smtptest.Message) error {
		if n%4 == 0 {
			return smtptest.Drop
		}
		return nil
	}})

	// The receiver's port is taken now and served only later: until then
	// deliveries find nobody listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookURL := "http://" + ln.Addr().String() + "/hook"
	addr := ln.Addr().String()
	ln.Close()
	rc := &receiver{byID: map[string]int{}}

	var csv strings.Builder
	csv.WriteString("Name,Email,behaviour\n")
	for i := range items {
		behaviour := ""
		if i%10 == 3 {
			behaviour = "crash" // the block process exits once for this item
		}
		fmt.Fprintf(&csv, "person %d,p%d@example.com,%s\n", i, i, behaviour)
	}
	dir := writeFiles(t, map[string]string{
		"items.csv": csv.String(),
		"wf.yaml": fmt.Sprintf(`name: faults
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: docs, uses: testblock, with: {emit: true}}
  - id: mail
    uses: email
    with: {from: "Ops <ops@example.com>", to: "{{Email}}", subject: "Hello {{Name}}", text: "Hi"}
  - id: hook
    uses: webhook
    with: {url: %q, secret: %q, retry: [1s, 1s, 2s, 2s, 3s, 5s], allow_private: true, timeout: 2s}
`, hookURL, faultSecret),
	})
	ns := startNATS(t)
	host := startServe(t, ns.ClientURL(), "--smtp", smtp.URL("tls=none"), "--webhook-allow", "127.0.0.1/32", filepath.Join(dir, "wf.yaml"))
	_, id, exited := startRun(t, "--data-dir", t.TempDir(), "--nats", ns.ClientURL(), "run", filepath.Join(dir, "wf.yaml"), "--output", "json")

	time.Sleep(3 * time.Second) // the receiver is down meanwhile
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the receiver's port was taken meanwhile: %v", err)
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	var r result
	select {
	case r = <-exited:
	case <-time.After(3 * time.Minute):
		t.Fatalf("run did not finish\n%s", tail(host.stderr.String()))
	}
	var sum struct{ Items, Succeeded int }
	_ = json.Unmarshal([]byte(r.stdout), &sum)
	if r.code != 0 || sum.Items != items || sum.Succeeded != items {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, tail(host.stderr.String()))
	}

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	unique, dups := eventCounts(t, js, "faults", id)
	if unique != 2*items || dups != 0 { // DOCUMENTS_CREATED and EMAILS_CREATED per item
		t.Errorf("events: %d unique (want %d), %d duplicated", unique, 2*items, dups)
	}

	msgs := smtp.Wait(context.Background(), t, items)
	ids := map[string]int{}
	for _, m := range msgs {
		parsed, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
		if err != nil {
			t.Fatal(err)
		}
		ids[parsed.Header.Get("Message-ID")]++
	}
	if len(msgs) != items || len(ids) != items {
		t.Errorf("emails: %d received, %d distinct Message-IDs, want %d of each", len(msgs), len(ids), items)
	}
	if smtp.DataCommands() <= items {
		t.Errorf("the SMTP server dropped nothing (%d DATA commands for %d emails)", smtp.DataCommands(), items)
	}

	deadline := time.Now().Add(2 * time.Minute)
	for {
		u, d, refused := rc.counts()
		if u == 2*items {
			if d != 0 || refused != 0 {
				t.Errorf("deliveries: %d duplicated, %d with a bad signature", d, refused)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries: %d of %d events delivered\n%s", u, 2*items, tail(host.stderr.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A little longer: a late duplicate would show now.
	time.Sleep(500 * time.Millisecond)
	if _, d, _ := rc.counts(); d != 0 {
		t.Errorf("deliveries: %d duplicated", d)
	}
}
