package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"

	ex "github.com/paperflow/paperflow/plugins/template/internal/examplefiles"
)

// TestBenchRatios prints, for `make bench`, each template kind's documents
// per second beside an in-process baseline making the same page, in
// alternating rounds, as ratios: the Markdown invoice beside fpdf drawing
// it directly (fpdfInvoice), the form beside pdfcpu's FillForm. Skipped
// unless PAPERFLOW_BENCH is set; it checks nothing about speed.
func TestBenchRatios(t *testing.T) {
	if os.Getenv("PAPERFLOW_BENCH") == "" {
		t.Skip("PAPERFLOW_BENCH is not set: run make bench")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "invoice.md"), []byte(benchMarkdown), 0o644)
	os.WriteFile(filepath.Join(dir, "logo.png"), ex.Logo(), 0o644)
	block := func(dir, template string, fields map[string]any) func() {
		blk, _ := mustConfigure(t, dir, map[string]any{"template": template})
		it := item(t, "1", fields)
		return func() {
			if m := blk.render(it); m.err != nil {
				t.Fatal(m.err)
			}
		}
	}
	logo := ex.Logo()
	form, err := os.ReadFile("../../examples/templates/form.pdf")
	if err != nil {
		t.Fatal(err)
	}
	latin := letterFields()
	var tf []map[string]any
	for _, k := range ex.FormFields {
		tf = append(tf, map[string]any{"name": k, "value": latin[k]})
	}
	fill, _ := json.Marshal(map[string]any{"forms": []any{map[string]any{
		"textfield": tf, "combobox": []any{map[string]any{"name": "Country", "value": "Sweden"}},
	}}})
	pairs := []struct {
		what, baseline string
		ours, base     func()
	}{
		{"Markdown invoice → PDF", "fpdf drawing it", block(dir, "invoice.md", benchFields()), func() {
			if _, err := fpdfInvoice(benchFields(), logo); err != nil {
				t.Fatal(err)
			}
		}},
		{"PDF form filled, Latin-1", "pdfcpu FillForm", block("../../examples/templates", "form.pdf", latin), func() {
			var out bytes.Buffer
			if err := api.FillForm(bytes.NewReader(form), bytes.NewReader(fill), &out, model.NewDefaultConfiguration()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	rate := func(f func(), d time.Duration) float64 {
		start, n := time.Now(), 0
		for time.Since(start) < d {
			f()
			n++
		}
		return float64(n) / time.Since(start).Seconds()
	}
	fmt.Println("template, one thread, warm; 5 alternating rounds of 1 s, medians")
	for _, p := range pairs {
		var us, them []float64
		for range 5 {
			us = append(us, rate(p.ours, time.Second))
			them = append(them, rate(p.base, time.Second))
		}
		u, b := median(us), median(them)
		fmt.Printf("  %-26s %7.0f/s   baseline %-16s %7.0f/s   ratio %5.2f\n", p.what, u, p.baseline, b, u/b)
	}
}
