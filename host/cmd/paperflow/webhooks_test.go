package main_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/delivery"
)

// headerSecret is a header value the CLI takes and must never print.
const headerSecret = "hunter2-header-token"

// received is one request a test receiver got.
type received struct {
	workflow, document string
	header             http.Header
}

// hookReceiver is a webhook endpoint that records what it gets and signals
// each arrival.
func hookReceiver(t *testing.T) (url string, got func() []received, arrived <-chan struct{}) {
	t.Helper()
	var mu sync.Mutex
	var all []received
	ch := make(chan struct{}, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var env struct {
			Metadata struct {
				Workflow string `json:"workflow"`
			} `json:"metadata"`
			Data struct {
				Documents []struct{ Name string } `json:"documents"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &env)
		rec := received{workflow: env.Metadata.Workflow, header: r.Header.Clone()}
		if len(env.Data.Documents) > 0 {
			rec.document = env.Data.Documents[0].Name
		}
		mu.Lock()
		all = append(all, rec)
		mu.Unlock()
		ch <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), all...)
	}, ch
}

// TestWebhooksSubscribeFiltersAndHeaders: a subscription made with
// `paperflow webhooks subscribe --workflow --condition --header` is
// delivered by a running serve as it says (only that workflow, only the
// events the condition passes, with the headers), and `webhooks update`
// changes it; no command prints a header's value.
func TestWebhooksSubscribeFiltersAndHeaders(t *testing.T) {
	t.Parallel()
	hook, got, arrived := hookReceiver(t)
	dir := writeFiles(t, map[string]string{
		"items.csv":     "Name\nAda\nBob\n",
		"invoices.yaml": "name: invoices\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: docs, uses: testblock, with: {emit: true}}\n",
		"offers.yaml":   "name: offers\nsource: {uses: csv, with: {path: items.csv}}\nblocks:\n  - {id: docs, uses: testblock, with: {emit: true}}\n",
	})
	data := t.TempDir()
	_, serveLog := serveEmbedded(t, data, "--webhook-allow", "127.0.0.1/32", filepath.Join(dir, "invoices.yaml"), filepath.Join(dir, "offers.yaml"))
	var printed strings.Builder // everything the CLI printed
	cli := func(args ...string) result {
		t.Helper()
		r := paperflow(t, data, append([]string{"--webhook-allow", "127.0.0.1/32"}, args...)...)
		printed.WriteString(r.stdout + r.stderr)
		if r.code != 0 {
			t.Fatalf("paperflow %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r
	}

	r := cli("webhooks", "subscribe", "--url", hook+"/in", "--event", "DOCUMENTS_CREATED",
		"--workflow", "invoices", "--condition", `.data.documents[0].name == "Ada.pdf"`,
		"--header", "Authorization: Bearer "+headerSecret, "--header", "X-Team: billing")
	id := regexp.MustCompile(`(?m)^subscription\s+([0-9a-f]{24})$`).FindStringSubmatch(r.stdout)
	if id == nil {
		t.Fatalf("subscribe printed no id:\n%s", r.stdout)
	}
	for _, want := range []string{"workflows invoices", `condition {"all":[".data.documents[0].name == \"Ada.pdf\""]}`, "headers Authorization, X-Team (values not shown)", "secret whsec_"} {
		if !strings.Contains(oneSpace(r.stdout), want) {
			t.Errorf("subscribe output lacks %q:\n%s", want, r.stdout)
		}
	}

	// offers is not subscribed to; of invoices only Ada passes.
	cli("run", filepath.Join(dir, "offers.yaml"))
	cli("run", filepath.Join(dir, "invoices.yaml"))
	<-arrived
	js := serveJetStream(t, data)
	sink := delivery.AllWorkflows + "/sub-" + id[1]
	waitFor(t, func() bool { return len(attempts(t, js, sink)) >= 2 })
	statuses := map[string]int{}
	for _, a := range attempts(t, js, sink) {
		statuses[a.Status]++
	}
	if statuses["delivered"] != 1 || statuses["skipped"] != 1 || len(statuses) != 2 {
		t.Errorf("attempts %v, want Ada delivered and Bob skipped (offers not sent at all)", statuses)
	}
	first := got()
	if len(first) != 1 || first[0].workflow != "invoices" || first[0].document != "Ada.pdf" {
		t.Fatalf("received %+v, want only invoices' Ada.pdf", first)
	}
	if h := first[0].header; h.Get("Authorization") != "Bearer "+headerSecret || h.Get("X-Team") != "billing" {
		t.Errorf("delivered with headers %v, want Authorization and X-Team as given", h)
	}

	r = cli("webhooks", "list", "-o", "json")
	var listed []struct {
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 1 || listed[0].Headers["Authorization"] != "(hidden)" {
		t.Errorf("list -o json: %v\n%s", err, r.stdout)
	}
	cli("webhooks", "list")

	// Every workflow, no condition, one header instead of two.
	r = cli("webhooks", "update", id[1], "--all-workflows", "--no-condition", "--header", "X-Team: ops")
	for _, want := range []string{"workflows every workflow", "condition none", "headers X-Team (values not shown)"} {
		if !strings.Contains(oneSpace(r.stdout), want) {
			t.Errorf("update output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "whsec_") {
		t.Errorf("update prints the secret:\n%s", r.stdout)
	}
	cli("run", filepath.Join(dir, "offers.yaml"))
	for len(got()) < 3 {
		<-arrived
	}
	for _, rec := range got()[1:] {
		if rec.workflow != "offers" || rec.header.Get("X-Team") != "ops" || rec.header.Get("Authorization") != "" {
			t.Errorf("after update: %s %s with X-Team %q, Authorization %q; want offers' with X-Team: ops only", rec.workflow, rec.document, rec.header.Get("X-Team"), rec.header.Get("Authorization"))
		}
	}
	if strings.Contains(printed.String(), headerSecret) || strings.Contains(serveLog.String(), headerSecret) {
		t.Errorf("a header value was printed:\n%s\nserve: %s", printed.String(), serveLog.String())
	}
}

// oneSpace is s with every run of white space one space, as a table
// shows it whatever its column widths.
func oneSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// serveJetStream connects to the embedded NATS of the serve on data.
func serveJetStream(t *testing.T, data string) jetstream.JetStream {
	t.Helper()
	var st struct {
		NATSURL string `json:"nats_url"`
	}
	raw, err := os.ReadFile(filepath.Join(data, "serve.json"))
	if err != nil || json.Unmarshal(raw, &st) != nil {
		t.Fatalf("serve.json: %v %s", err, raw)
	}
	nc, err := nats.Connect(st.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func attempts(t *testing.T, js jetstream.JetStream, sink string) []delivery.Attempt {
	t.Helper()
	as, err := delivery.Attempts(context.Background(), js, delivery.AttemptQuery{Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// TestWebhooksSubscribeRefusals: what the store refuses is refused by the
// CLI with the flag to change, and no message quotes a header's value;
// deliveries refuses a window it would silently widen.
func TestWebhooksSubscribeRefusals(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	const url = "https://hooks.example.com/in"
	r := paperflow(t, data, "webhooks", "subscribe", "--url", url, "--workflow", "invoices", "-o", "json")
	var sub struct {
		ID     string `json:"subscriptionId"`
		Secret string `json:"secretKey"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sub); r.code != 0 || err != nil || sub.ID == "" || !strings.HasPrefix(sub.Secret, "whsec_") {
		t.Fatalf("subscribe -o json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"duplicate", []string{"subscribe", "--url", url, "--workflow", "invoices"}, "subscription " + sub.ID + " has the same url, events, workflows and condition (paperflow webhooks list shows it); add --allow-duplicate to create another"},
		{"workflow name", []string{"subscribe", "--url", url, "--workflow", "Invoices"}, `--workflow: "Invoices" is not a workflow name`},
		{"event type", []string{"subscribe", "--url", url, "--event", "DOCUMENT_CREATED"}, `--event: unknown event type "DOCUMENT_CREATED"`},
		{"url scheme", []string{"subscribe", "--url", "ftp://hooks.example.com/"}, "--url: want an absolute http:// or https:// URL"},
		{"jq", []string{"subscribe", "--url", url, "--condition", ".data | ("}, "--condition: condition.all[0]: jq expression"},
		{"condition key", []string{"subscribe", "--url", url, "--condition", `{"all": [".a"], "al": [".b"]}`}, `--condition: not a JSON condition (unknown field "al")`},
		{"all and any", []string{"subscribe", "--url", url, "--condition", `{"all": [".a"], "any": [".b"]}`}, "--condition: use either all or any, not both"},
		{"empty condition", []string{"subscribe", "--url", url, "--condition", " "}, "--condition: empty"},
		{"header without colon", []string{"subscribe", "--url", url, "--header", "Bearer " + headerSecret}, "--header number 1: want 'Name: value'"},
		{"header name", []string{"subscribe", "--url", url, "--header", "X Team: " + headerSecret}, `--header: "X Team" is not a valid header name`},
		{"reserved header", []string{"subscribe", "--url", url, "--header", "webhook-signature: " + headerSecret}, "--header: Webhook-Signature is set by paperflow"},
		{"header twice", []string{"subscribe", "--url", url, "--header", "X-Key: a", "--header", "x-key: " + headerSecret}, "--header X-Key: given twice"},
		{"hidden value", []string{"subscribe", "--url", url, "--header", "X-Key: (hidden)"}, `--header: X-Key: "(hidden)" is how a listed subscription hides a value`},
		{"update nothing", []string{"update", sub.ID}, "nothing to change"},
		{"update unknown", []string{"update", "0123456789abcdef01234567", "--disable"}, "subscription not found: 0123456789abcdef01234567 (paperflow webhooks list shows the ids)"},
		{"update both", []string{"update", sub.ID, "--condition", ".a", "--no-condition"}, "[condition no-condition] were all set"},
		{"update workflow", []string{"update", sub.ID, "--workflow", "a b"}, `--workflow: "a b" is not a workflow name`},
		{"replay shortened id", []string{"replay", "d4a9fc14…cbf4"}, "d4a9fc14…cbf4 is an event id as the deliveries table shortens it; give the whole id"},
		{"deliveries limit", []string{"deliveries", "--limit", "0"}, "--limit 0: give how many attempts to show at most, 1 or more"},
		{"deliveries since", []string{"deliveries", "--since", "-1h"}, "--since -1h0m0s: give how far back to look"},
	}
	for _, c := range cases {
		r := paperflow(t, data, append([]string{"webhooks"}, c.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", c.name, r.code, r.stderr, c.want)
		}
		if strings.Contains(r.stdout+r.stderr, headerSecret) {
			t.Errorf("%s: the header's value is printed: %s%s", c.name, r.stdout, r.stderr)
		}
	}
	if r := paperflow(t, data, "webhooks", "subscribe", "--url", url, "--workflow", "invoices", "--allow-duplicate"); r.code != 0 {
		t.Errorf("--allow-duplicate: exit %d %s", r.code, r.stderr)
	}
}
