package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/pluginhost"
	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/signature/pdfsign"
)

// BenchmarkCompleteSignature measures completed signatures per second
// through the HTTP endpoint, as a signer's browser reaches it: POST
// /blocks/<workflow>/<block>/sign/<token> through the host's HTTP server
// and the block process, which records the signature (compare-and-set in
// KV), seals the PDF (signature page, audit trail, digital signature),
// stores it, emits SIGNATURES_COMPLETED and mails it. In the same loop it
// times sealing the same document alone (pdfsign.Seal, in this process),
// the baseline; "ratio" is the HTTP rate over the sealing rate (1 would
// mean the rest costs nothing). Setting up each request (Process) is not
// counted.
func BenchmarkCompleteSignature(b *testing.B) {
	env := newHostEnv(b)
	ctx := context.Background()
	blk, err := pluginhost.Start(ctx, pluginhost.Spec{
		Instance: pluginhost.Instance{Workflow: "bench", BlockID: "sign"}, Uses: "signature",
		Path: filepath.Join(env.plugins, "signature"), PublicURL: env.url,
		Config: []byte(`{"documents": ["contract"], "recipients": [{"email": "ada@example.com", "name": "Ada Lovelace"}]}`),
	}, env.engine, env.log)
	if err != nil {
		b.Fatal(err)
	}
	defer blk.Close()
	env.api.Mount("bench", "sign", blk)
	original := testPDF(b, "Employment contract for the benchmark.\nThe parties agree to the terms written here.")
	doc, err := env.engine.PutDocument(ctx, "Contract.pdf", "application/pdf", original)
	if err != nil {
		b.Fatal(err)
	}
	blocks, _ := json.Marshal(map[string]any{"contract": map[string]any{"documents": []any{doc}}})
	signer, err := pdfsign.NewSelfSigned("bench seal", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	rec := pdfsign.Record{Document: "Contract.pdf", RequestID: "bench", Consent: consentText, Signatures: []pdfsign.Signature{{
		Name: "Ada Lovelace", Email: "ada@example.com", Order: 1, SignedAt: time.Now(), IP: "127.0.0.1", UserAgent: "Go-http-client/1.1",
	}}}
	client := &http.Client{}

	var viaHTTP, sealOnly time.Duration
	n := 0
	for b.Loop() {
		n++
		res, err := blk.Process(ctx, []*blockv1.Item{{Id: fmt.Sprint(n), RunId: "bench-run", Origin: "bench", Blocks: blocks}})
		if err != nil || res[0].Error != "" {
			b.Fatalf("process: %v %v", err, res)
		}
		link := benchLink(b, res[0])
		form := url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {"Ada Lovelace"}, "submission": {randomHex(16)}}

		// Each signer from an address of its own, so the per-address limit
		// on POSTs (limits.go) does not set the pace.
		req, _ := http.NewRequest(http.MethodPost, link, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.18.%d.%d", n>>8&255, n&255))
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		mid := time.Now()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("sign: %s", resp.Status)
		}
		if _, err := pdfsign.Seal(original, rec, signer, pdfsign.Options{Fonts: pageFonts}); err != nil {
			b.Fatal(err)
		}
		viaHTTP, sealOnly = viaHTTP+mid.Sub(start), sealOnly+time.Since(mid)
	}
	b.StopTimer()
	if got := len(ofType(env.published(b, "bench-run"), "SIGNATURES_COMPLETED", "")); got != n {
		b.Fatalf("%d SIGNATURES_COMPLETED events for %d signatures", got, n)
	}
	httpRate := float64(n) / viaHTTP.Seconds()
	sealRate := float64(n) / sealOnly.Seconds()
	b.ReportMetric(httpRate, "signatures/s")
	b.ReportMetric(sealRate, "seal-only/s")
	b.ReportMetric(httpRate/sealRate, "ratio")
}

func benchLink(b *testing.B, r *blockv1.ItemResult) string {
	b.Helper()
	for _, ev := range r.Events {
		var data struct {
			Recipients []struct {
				SignatureURL string `json:"signature_url"`
			} `json:"recipients"`
		}
		if ev.Type == "SIGNATURES_REQUESTED" && json.Unmarshal(ev.Data, &data) == nil && len(data.Recipients) > 0 {
			if !strings.HasPrefix(data.Recipients[0].SignatureURL, "http://127.0.0.1:") {
				b.Fatalf("link %s is not on the test server", data.Recipients[0].SignatureURL)
			}
			return data.Recipients[0].SignatureURL
		}
	}
	b.Fatal("no SIGNATURES_REQUESTED event")
	return ""
}
