package delivery_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/workflow"
)

// echoHeaders is a receiver that answers with the request's headers, as
// debugging endpoints do.
func echoHeaders(w http.ResponseWriter, r *http.Request) {
	raw, _ := json.Marshal(map[string]any{"headers": r.Header, "url": r.URL.String()})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(raw)
}

// TestURLCredentialsNeverReachTheAttemptLog sends to receivers that echo
// the request headers, with a password in the URL user info, which the
// HTTP client sends as "Authorization: Basic base64(user:password)": from
// a workflow's webhook block (the password a secret, the block a real
// plugin process) and from a subscription (the password typed into its
// URL). The attempt log, which the deliveries API serves, keeps the echo
// but neither the password nor its Basic or base64 forms.
func TestURLCredentialsNeverReachTheAttemptLog(t *testing.T) {
	t.Setenv("PAPERFLOW_WEBHOOK_ALLOW", "127.0.0.1/32")
	const user, password = "user", "urlpassword123"
	forms := []string{
		password,
		base64.StdEncoding.EncodeToString([]byte(user + ":" + password)),
		base64.RawStdEncoding.EncodeToString([]byte(user + ":" + password)),
		base64.StdEncoding.EncodeToString([]byte(password)),
		base64.RawURLEncoding.EncodeToString([]byte(password)),
	}
	b := newBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var got []string // the Authorization headers the receivers saw
	received := make(chan string, 16)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received <- r.Header.Get("Authorization")
		echoHeaders(w, r)
	}))
	t.Cleanup(rcv.Close)
	withUser := strings.Replace(rcv.URL, "http://", "http://"+user+":{{ .secrets.URL_PASSWORD }}@", 1)

	// A webhook block whose URL takes the password from a secret.
	e := newEngine(t, b)
	secrets := workflow.Secrets{"URL_PASSWORD": password}
	wf := loadWorkflow(t, e, `name: creds
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: hook
    uses: webhook
    with: {url: "`+withUser+`/block", retry: [10ms]}
`, "Name\nA\n", secrets)
	startSink(t, b, e, wf, "hook", secrets)

	// A subscription whose URL holds the password as typed.
	store, err := delivery.OpenSubscriptions(ctx, b.JS, 1, loopback)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := store.Create(ctx, delivery.SubscriptionInput{URL: ptr(strings.Replace(withUser, "{{ .secrets.URL_PASSWORD }}", password, 1) + "/sub")})
	if err != nil {
		t.Fatal(err)
	}
	d := start(t, options(t, b))
	done := make(chan error, 1)
	go func() {
		done <- delivery.ServeSubscriptions(ctx, d, store, delivery.SubscriptionSending{Allow: loopback, Schedule: fast})
	}()
	awaitTargets(t, d, 1)

	publish(t, b, "creds", 1)
	for len(got) < 2 {
		select {
		case a := <-received:
			got = append(got, a)
		case <-time.After(10 * time.Second):
			t.Fatalf("the receivers got %d requests, want 2", len(got))
		}
	}
	for _, a := range got {
		if a != "Basic "+forms[1] {
			t.Fatalf("the receiver saw Authorization %q, want the URL's credentials", a)
		}
	}

	for _, ref := range []string{"creds/hook", sub.Ref()} {
		as := awaitAttempts(t, b, ref, "a delivery", func(as []delivery.Attempt) bool { return len(as) > 0 })
		raw, _ := json.Marshal(as) // what GET /public/webhook/deliveries serves
		if !strings.Contains(string(raw), "Authorization") {
			t.Errorf("%s: the attempt log lacks the echoed headers: %s", ref, raw)
		}
		for _, f := range forms {
			if strings.Contains(string(raw), f) {
				t.Errorf("%s: the attempt log shows %q: %s", ref, f, raw)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}
