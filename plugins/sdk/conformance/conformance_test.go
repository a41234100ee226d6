package conformance_test

import (
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/conformance"
	"github.com/paperflow/paperflow/plugins/sdk/sdktest/testdata/echo/block"
)

var echoCase = conformance.Case{
	Config:  `{"greeting": "Hello"}`,
	Invalid: []string{`{}`, `{"greeting": ""}`},
	Items:   []map[string]any{{"Name": "Ada"}},
}

// TestEchoConforms runs the suite on sdktest's echo block, in process and
// as a binary.
func TestEchoConforms(t *testing.T) {
	t.Run("in process", func(t *testing.T) { conformance.RunInProcess(t, block.New, echoCase) })
	if testing.Short() {
		t.Skip("builds the block binary")
	}
	t.Run("binary", func(t *testing.T) { conformance.Run(t, conformance.Build(t, "../sdktest/testdata/echo"), echoCase) })
}

func TestValidateEvent(t *testing.T) {
	good, _ := sdk.NewEvent("DOCUMENTS_CREATED", map[string]any{"documents": []sdk.Document{{ID: "d1", Name: "a.pdf", Mimetype: "application/pdf", URL: "http://127.0.0.1:1/documents/d1"}}})
	if err := conformance.ValidateEvent(good); err != nil {
		t.Errorf("valid event: %v", err)
	}
	for _, bad := range []sdk.EventData{
		{Type: "DOCUMENTS_CREATED", Data: []byte(`{"documents": "none"}`)},
		{Type: "NO_SUCH_EVENT", Data: []byte(`{}`)},
		{Type: "ENVELOPE", Data: []byte(`{}`)},
	} {
		if err := conformance.ValidateEvent(bad); err == nil {
			t.Errorf("%s %s: want an error", bad.Type, bad.Data)
		}
	}
}
