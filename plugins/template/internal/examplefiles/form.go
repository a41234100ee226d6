package examplefiles

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

func init() { model.ConfigPath = "disable" } // no pdfcpu configuration directory in $HOME

// FormFields are the text fields of the example form, one per column of
// examples/data/people.csv except Country, which is a combo box.
var FormFields = []string{"First Name", "Last Name", "Email", "Company", "Amount", "Due Date"}

// Countries are the options of the example form's Country combo box.
var Countries = []string{"France", "Germany", "India", "Ireland", "Japan", "Nigeria", "Poland", "Spain", "Sweden", "United Kingdom"}

// Form is examples/templates/form.pdf: a one-page customer form with a
// text field for each column of people.csv, a Country combo box and a
// Paid checkbox. pdfcpu lays it out from a JSON description.
func Form() ([]byte, error) {
	label := func(text string) map[string]any {
		return map[string]any{"value": text, "width": 110, "gap": 10, "pos": "left", "align": "left"}
	}
	var text []map[string]any
	y := 120
	for _, f := range FormFields {
		text = append(text, map[string]any{
			"id": f, "pos": []int{170, y}, "width": 300, "label": label(f),
			"border": map[string]any{"width": 1, "col": "Gray"},
		})
		y += 30
	}
	spec := map[string]any{
		"paper":  "A4P",
		"origin": "UpperLeft",
		"fonts": map[string]any{
			"label": map[string]any{"name": "Helvetica", "size": 11},
			"input": map[string]any{"name": "Helvetica", "size": 11},
		},
		"pages": map[string]any{"1": map[string]any{"content": map[string]any{
			"text": []map[string]any{
				{"value": "Customer details", "pos": []int{50, 70}, "font": map[string]any{"name": "Helvetica-Bold", "size": 18}},
				{"value": "Filled in by paperflow from examples/data/people.csv.", "pos": []int{50, 90}, "font": map[string]any{"name": "Helvetica", "size": 10}},
			},
			"textfield": text,
			"combobox": []map[string]any{{
				"id": "Country", "pos": []int{170, y}, "width": 300, "options": Countries, "label": label("Country"),
				"border": map[string]any{"width": 1, "col": "Gray"},
			}},
			"checkbox": []map[string]any{{
				"id": "Paid", "pos": []int{170, y + 30}, "width": 12, "label": label("Paid"),
			}},
		}}},
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	conf := model.NewDefaultConfiguration()
	if err := api.Create(nil, bytes.NewReader(js), &out, conf); err != nil {
		return nil, fmt.Errorf("create form: %w", err)
	}
	return out.Bytes(), nil
}
