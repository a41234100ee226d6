package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	ex "github.com/paperflow/paperflow/plugins/template/internal/examplefiles"
	"github.com/paperflow/paperflow/plugins/template/internal/pdfform"
)

// TestExamplesUpToDate checks the committed example templates against
// their generator: go run ./plugins/template/internal/examplefiles/gen
// remakes them.
func TestExamplesUpToDate(t *testing.T) {
	for name, want := range map[string][]byte{"invoice.docx": ex.Invoice(), "logo.png": ex.Logo()} {
		got, err := os.ReadFile("../../examples/templates/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("examples/templates/%s differs from its generator's output: run go run ./plugins/template/internal/examplefiles/gen", name)
		}
	}
	// pdfcpu stamps the time into a PDF, so the form is compared by its
	// fields.
	data, err := os.ReadFile("../../examples/templates/form.pdf")
	if err != nil {
		t.Fatal(err)
	}
	f, err := pdfform.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]string{}, ex.FormFields...), "Country", "Paid")
	for _, name := range want {
		if _, ok := f.Field(name); !ok {
			t.Errorf("examples/templates/form.pdf has no field %q (fields: %s)", name, strings.Join(f.Names(), ", "))
		}
	}
}
