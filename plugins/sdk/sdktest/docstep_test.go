package sdktest_test

import (
	"errors"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/sdktest"
)

func TestDocumentStep(t *testing.T) {
	step := func() sdk.Block {
		return &sdktest.DocumentStep{Name: "makedoc", Make: func(id string) (string, []byte, error) {
			if id == "" {
				return "", nil, errors.New("no id")
			}
			return "Doc " + id + ".pdf", []byte("%PDF " + id), nil
		}}
	}
	out := sdktest.Process(t, sdktest.InProcess(step), sdktest.Config{}, map[string]any{"n": 1}, map[string]any{"n": 2})
	docs := out.Host.Documents()
	if len(out.Results) != 2 || len(docs) != 2 {
		t.Fatalf("%d results, %d documents stored; want 2 of each", len(out.Results), len(docs))
	}
	for i, r := range out.Results {
		if r.Err != "" || len(r.Documents) != 1 || r.Documents[0].Name != "Doc "+r.ItemID+".pdf" {
			t.Errorf("result %d: %+v", i, r)
		}
	}
}
