package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/plugins/sdk/conformance"
)

func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the block binary")
	}
	var rows []map[string]any
	for _, it := range people(t) {
		var f map[string]any
		json.Unmarshal(it.RawFields, &f)
		rows = append(rows, f)
	}
	formRows := []map[string]any{{"First Name": "Łukasz", "Last Name": "Nowak", "Country": "Poland", "Paid": "yes"}}
	hosttest.Conformance(t, conformance.Build(t, "."),
		conformance.Case{Config: `{"template": "../../examples/templates/letter.md", "name": "Letter {{Last Name}}"}`, Items: rows},
		conformance.Case{Config: `{"template": "../../examples/templates/invoice.docx"}`, Items: rows},
		conformance.Case{Config: `{"template": "../../examples/templates/form.pdf", "flatten": true}`, Items: formRows},
		conformance.Case{Config: `{"template": "letter.md", "missing": "blank", "output_dir": "` + strings.ReplaceAll(t.TempDir(), `\`, `\\`) + `"}`,
			WorkflowDir: "../../examples/templates", Items: rows[:2]},
	)
}
