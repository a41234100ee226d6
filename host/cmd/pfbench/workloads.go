package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// letterWorkflow is goal 4's pipeline: the README letter as PDF per item,
// emailed to the outbox with the PDF attached, both events posted to the
// local receiver by the webhook sink.
const letterWorkflow = `name: letters
source: {uses: json, with: {path: items.ndjson}}
blocks:
  - id: letter
    uses: template
    with: {template: letter.md, name: "Invoice {{Company}}"}
  - id: mail
    uses: email
    with: {from: "bench <bench@example.com>", to: "{{Email}}", subject: "Invoice {{Company}}", text: "Your invoice is attached.", attach: [letter]}
  - id: notify
    uses: webhook
    with: {url: "{{HOOK}}", secret: s3cr3t, events: [DOCUMENTS_CREATED, EMAILS_CREATED], timeout: 10s}
`

// renderWorkflow is its baseline: the same letters rendered and stored,
// nothing sent.
const renderWorkflow = `name: render
source: {uses: json, with: {path: items.ndjson}}
blocks:
  - id: letter
    uses: template
    with: {template: letter.md, name: "Invoice {{Company}}"}
`

// signedWorkflow is csv → a step emitting one event per row → the webhook
// sink, what Benthos does as csv → HMAC → http_client. The step is
// emitStep, run in the host in the place of a noop block.
const signedWorkflow = `name: signed
source: {uses: csv, with: {path: rows.csv}}
blocks:
  - {id: emit, uses: noop}
  - id: notify
    uses: webhook
    with: {url: "{{HOOK}}", secret: s3cr3t, events: [DOCUMENTS_CREATED], timeout: 10s}
`

func letterItems(n int) []byte {
	var b bytes.Buffer
	countries := []string{"Germany", "Poland", "France"}
	for i := range n {
		fmt.Fprintf(&b, `{"First Name":"Ada%d","Last Name":"Lovelace","Company":"Company %d","Country":%q,"Amount":"%d.50","Due Date":"2026-01-15","Email":"ada%d@example.com"}`+"\n",
			i, i, countries[i%3], 100+i%900, i)
	}
	return b.Bytes()
}

func csvRows(n int) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"Number", "Name", "Email", "Amount"})
	for i := range n {
		_ = w.Write([]string{strconv.Itoa(i), "Customer " + strconv.Itoa(i), fmt.Sprintf("c%d@example.com", i), strconv.Itoa(i * 7)})
	}
	w.Flush()
	return b.Bytes()
}

// emitStep emits a DOCUMENTS_CREATED event per item from its fields.
type emitStep struct{}

func (emitStep) Describe() sdk.Descriptor {
	return sdk.Descriptor{Name: "noop", Kind: sdk.KindStep, Version: "bench", ConfigSchema: json.RawMessage(`{"type":"object"}`),
		Events: []string{"DOCUMENTS_CREATED"}}
}
func (emitStep) Configure(context.Context, sdk.Config) error { return nil }
func (emitStep) Process(_ context.Context, items []sdk.Item) []sdk.Result {
	out := make([]sdk.Result, len(items))
	for i, it := range items {
		var f struct{ Number string }
		_ = json.Unmarshal(it.RawFields, &f)
		num := f.Number
		data, _ := json.Marshal(map[string]any{"documents": []map[string]any{{
			"id": "row-" + num, "url": "http://127.0.0.1/rows/" + num, "name": "row-" + num + ".json", "mimetype": "application/json",
		}}})
		out[i] = sdk.Result{Events: []sdk.EventData{{Type: "DOCUMENTS_CREATED", Data: data}}}
	}
	return out
}

// benthosConfig is the peer's pipeline over the same rows to the same
// receiver: a signature over the row (HMAC-SHA256 in bloblang), posted
// with http_client; webhook-id lets the receiver count it.
const benthosConfig = `http: {enabled: false}
logger: {level: warn}
input:
  csv:
    paths: ["{{ROWS}}"]
pipeline:
  processors:
    - mapping: |
        root = this
        meta sig = content().hash("hmac_sha256", "s3cr3t").encode("hex")
output:
  http_client:
    url: "{{HOOK}}"
    verb: POST
    headers:
      Content-Type: application/json
      webhook-id: '${! json("Number") }'
      X-Webhook-Signature: '${! meta("sig") }'
    max_in_flight: 64
`

// runBenthos runs the peer once over rows and returns rows/s until the
// receiver has every row.
func runBenthos(bin, dir string, rows int, recv *receiver) (float64, error) {
	cfg := strings.NewReplacer("{{ROWS}}", filepath.Join(dir, "rows.csv"), "{{HOOK}}", recv.url).Replace(benthosConfig)
	cfgFile := filepath.Join(dir, "benthos.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return 0, err
	}
	recv.expect(int64(rows))
	cmd := exec.Command(bin, "-c", cfgFile)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	select {
	case <-recv.done:
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("benthos: %d of %d rows came", recv.n.Load(), rows)
	}
	return float64(rows) / time.Since(start).Seconds(), nil
}
