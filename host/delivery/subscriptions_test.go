package delivery_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/delivery"
)

func ptr[T any](v T) *T { return &v }

func TestSubscriptionStore(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	ctx := context.Background()
	store, err := delivery.OpenSubscriptions(ctx, b.JS, 1, loopback)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := store.Create(ctx, delivery.SubscriptionInput{URL: ptr("http://127.0.0.1:9/hook"), Description: ptr("crm")})
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.ID) != 24 || !strings.HasPrefix(sub.Secret, "whsec_") || !sub.Enabled || len(sub.Events) != 4 {
		t.Errorf("created %+v", sub)
	}
	for _, c := range []struct {
		in    delivery.SubscriptionInput
		field string
	}{
		{delivery.SubscriptionInput{}, "url"},
		{delivery.SubscriptionInput{URL: ptr("not a url")}, "url"},
		{delivery.SubscriptionInput{URL: ptr("ftp://example.com")}, "url"},
		{delivery.SubscriptionInput{URL: ptr("http://10.0.0.1/")}, "url"},
		{delivery.SubscriptionInput{URL: ptr("http://localhost:8080/")}, "url"}, // the allow-list holds 127.0.0.1 only… and localhost is 127.0.0.1
		{delivery.SubscriptionInput{URL: ptr("https://example.com"), Events: []string{"documents_created"}}, "events"},
		{delivery.SubscriptionInput{URL: ptr("https://example.com"), Events: []string{}}, "events"},
	} {
		_, err := store.Create(ctx, c.in)
		var inv *delivery.InvalidError
		if c.in.URL != nil && *c.in.URL == "http://localhost:8080/" {
			if err != nil {
				t.Errorf("localhost with 127.0.0.1 allowed: %v", err)
			}
			continue
		}
		if !errors.As(err, &inv) || inv.Field != c.field {
			t.Errorf("%+v: got %v, want an error on %s", c.in, err, c.field)
		}
	}
	up, err := store.Update(ctx, sub.ID, delivery.SubscriptionInput{Enabled: ptr(false), Events: []string{"SIGNATURES_COMPLETED", "SIGNATURES_COMPLETED"}})
	if err != nil || up.Enabled || len(up.Events) != 1 || up.Description != "crm" || up.Secret != sub.Secret {
		t.Errorf("updated %+v, %v", up, err)
	}
	list, err := store.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("list %d, %v", len(list), err)
	}
	if err := store.Delete(ctx, sub.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, sub.ID); !errors.Is(err, delivery.ErrSubscriptionNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if _, err := store.Update(ctx, "../../etc", delivery.SubscriptionInput{}); !errors.Is(err, delivery.ErrSubscriptionNotFound) {
		t.Errorf("bad id: %v", err)
	}
}

// TestSubscriptionsAreDelivered runs the subscriptions watcher: a new
// subscription gets the events of every workflow published after it was
// created, signed with its own secret; disabling stops it; 410 disables it.
func TestSubscriptionsAreDelivered(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := delivery.OpenSubscriptions(ctx, b.JS, 1, loopback)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, "before", 3) // published before the subscription: not sent

	var gone atomic.Bool
	rcv := newReceiver(t, "", func(w http.ResponseWriter, id string, n int) bool {
		if gone.Load() {
			w.WriteHeader(http.StatusGone)
			return false
		}
		return ok(w, id, n)
	})
	sub, err := store.Create(ctx, delivery.SubscriptionInput{URL: ptr(rcv.URL + "/hook")})
	if err != nil {
		t.Fatal(err)
	}
	rcv.secret = sub.Secret
	d := start(t, options(t, b))
	done := make(chan error, 1)
	go func() {
		done <- delivery.ServeSubscriptions(ctx, d, store, delivery.SubscriptionSending{Allow: loopback, Schedule: fast})
	}()

	ids := append(publish(t, b, "invoices", 5), publish(t, b, "contracts", 5)...)
	rcv.await(t, "events of both workflows", 10*time.Second, rcv.allDelivered(ids))
	if n := rcv.total(); n != len(ids) {
		t.Errorf("receiver got %d events, want %d", n, len(ids))
	}
	as := awaitAttempts(t, b, sub.Ref(), "10 deliveries", func(as []delivery.Attempt) bool { return len(as) == 10 })
	if as[0].Workflow != delivery.AllWorkflows || as[0].Sink != sub.Sink() {
		t.Errorf("attempt %+v", as[0])
	}

	// Disabled: nothing more is sent.
	if _, err := store.Update(ctx, sub.ID, delivery.SubscriptionInput{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	awaitTargets(t, d, 0)
	publish(t, b, "invoices", 2)
	time.Sleep(200 * time.Millisecond)
	if n := rcv.total(); n != len(ids) {
		t.Errorf("a disabled subscription got events (%d requests)", n)
	}

	// Enabled again, the endpoint answers 410: the subscription disables itself.
	gone.Store(true)
	if _, err := store.Update(ctx, sub.ID, delivery.SubscriptionInput{Enabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	awaitTargets(t, d, 1)
	publish(t, b, "invoices", 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := store.Get(ctx, sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Enabled {
			if !strings.Contains(s.DisabledReason, "410 Gone") {
				t.Errorf("disabled reason %q", s.DisabledReason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("410 did not disable the subscription")
		}
		time.Sleep(20 * time.Millisecond)
	}
	awaitTargets(t, d, 0)
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func awaitTargets(t *testing.T, d *delivery.Dispatcher, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(d.Targets()) != n {
		if time.Now().After(deadline) {
			t.Fatalf("targets %v, want %d", d.Targets(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
