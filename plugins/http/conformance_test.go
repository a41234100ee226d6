package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk/conformance"
)

func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the block binary")
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"ok": true}`)
	}))
	defer api.Close()
	conformance.Run(t, conformance.Build(t, "."),
		conformance.Case{
			Config: `{"url":"` + api.URL + `/customers/{{Name}}","method":"PATCH","headers":{"X-Team":"billing"},"allow_private":true,` +
				`"query":{"v":"2"},"body":{"name":"{{Name}}","n":1,"ok":true,"list":["{{Name}}",null]},"auth":{"bearer":"tok"},` +
				`"timeout":"3s","retries":0,"rate_limit":100,"expect":[200,201],"max_response":4096}`,
			Items:   []map[string]any{{"Name": "Ada"}},
			Invalid: []string{`{"url":"ftp://x"}`, `{"url":"https://x","method":"GET","body":{"a":1}}`},
		},
		conformance.Case{
			Config: `{"url":"` + api.URL + `/hook","allow_private":true,"body":"plain {{Name}}","content_type":"text/plain","auth":{"hmac":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}`,
			Items:  []map[string]any{{"Name": "Grace"}},
		},
	)
}
