package main

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
)

func TestProcess(t *testing.T) {
	ada := `{"First Name": "Ada", "Last Name": "Lovelace", "Company": "Analytical Engines, Ltd", "Amount": 1250.5, "Tags": ["a"]}`
	zoe := `{"First Name": "Zoë", "Last Name": "Ångström", "Company": "{{Email}} & Co"}`
	cases := []struct {
		name     string
		with     string // as written in the workflow
		fields   string // the item's fields
		resolved string // Item.RawConfig, as the host resolves it; "" when with has no tags
		want     map[string]any
		wantErr  string
	}{
		{
			name:     "resolved fields are copied",
			with:     `{"fields": {"Full Name": "{{First Name}} {{Last Name}}", "Greeting": "Dear {{First Name}},"}}`,
			fields:   ada,
			resolved: `{"fields": {"Full Name": "Ada Lovelace", "Greeting": "Dear Ada,"}}`,
			want:     map[string]any{"Full Name": "Ada Lovelace", "Greeting": "Dear Ada,"},
		},
		{
			name:     "upper and slug of derived fields",
			with:     `{"fields": {"Full Name": "{{First Name}} {{Last Name}}", "Key": "{{First Name}} {{Last Name}}"}, "upper": ["Full Name"], "slug": ["Key"]}`,
			fields:   zoe,
			resolved: `{"fields": {"Full Name": "Zoë Ångström", "Key": "Zoë Ångström"}, "upper": ["Full Name"], "slug": ["Key"]}`,
			want:     map[string]any{"Full Name": "ZOË ÅNGSTRÖM", "Key": "zoë-ångström"},
		},
		{
			name:   "upper and slug of item fields, no tags",
			with:   `{"upper": ["Last Name"], "slug": ["Company"]}`,
			fields: ada,
			want:   map[string]any{"Last Name": "LOVELACE", "Company": "analytical-engines-ltd"},
		},
		{
			name:   "item values are data, never evaluated",
			with:   `{"slug": ["Company"], "upper": ["First Name"]}`,
			fields: zoe,
			want:   map[string]any{"Company": "email-co", "First Name": "ZOË"},
		},
		{
			name:   "a number is text too",
			with:   `{"slug": ["Amount"]}`,
			fields: ada,
			want:   map[string]any{"Amount": "1250-5"},
		},
		{
			name:    "unknown field",
			with:    `{"upper": ["Country"]}`,
			fields:  ada,
			wantErr: `derive: upper: "Country" is neither in fields nor a field of item people.csv:2`,
		},
		{
			name:    "a list is not text",
			with:    `{"upper": ["Tags"]}`,
			fields:  ada,
			wantErr: `derive: upper: field "Tags" is a list or an object, not text`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := configure(t, tc.with)
			it := sdk.Item{ID: "item-1", Origin: "people.csv:2", RawFields: json.RawMessage(tc.fields)}
			if tc.resolved != "" {
				it.RawConfig = json.RawMessage(tc.resolved)
			}
			results := d.Process(context.Background(), []sdk.Item{it})
			if len(results) != 1 {
				t.Fatalf("%d results for 1 item", len(results))
			}
			r := results[0]
			if tc.wantErr != "" {
				if r.Err == nil || r.Err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", r.Err, tc.wantErr)
				}
				return
			}
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if !reflect.DeepEqual(r.Outputs, tc.want) {
				t.Errorf("outputs %v, want %v", r.Outputs, tc.want)
			}
		})
	}
}

// TestProcessBatch: one bad item fails alone, results keep the order.
func TestProcessBatch(t *testing.T) {
	d := configure(t, `{"upper": ["Name"]}`)
	items := []sdk.Item{
		{ID: "1", RawFields: json.RawMessage(`{"Name": "ada"}`)},
		{ID: "2", RawFields: json.RawMessage(`{"Other": "x"}`)},
		{ID: "3", RawFields: json.RawMessage(`{"Name": "zoë"}`)},
	}
	results := d.Process(context.Background(), items)
	if len(results) != 3 || results[1].Err == nil || results[0].Err != nil || results[2].Err != nil {
		t.Fatalf("results %+v: want only the second to fail", results)
	}
	if results[0].Outputs["Name"] != "ADA" || results[2].Outputs["Name"] != "ZOË" {
		t.Errorf("outputs %v, %v", results[0].Outputs, results[2].Outputs)
	}
}

func TestConfigureRefusesUpperAndSlugTogether(t *testing.T) {
	err := (&Derive{}).Configure(context.Background(), sdk.Config{BlockID: "derive", With: json.RawMessage(`{"upper": ["A", "B"], "slug": ["B"]}`)})
	if err == nil || !strings.Contains(err.Error(), `"B" is in both upper and slug`) {
		t.Errorf("error %v", err)
	}
}

func TestSlug(t *testing.T) {
	cases := map[string]string{
		"Zoë Ångström":            "zoë-ångström",
		"  Harbour & Sons, Ltd. ": "harbour-sons-ltd",
		"Łukasz  NOWAK":           "łukasz-nowak",
		"O'Brien":                 "o-brien",
		"2026-03-01":              "2026-03-01",
		"---":                     "",
		"":                        "",
	}
	for in, want := range cases {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDescribe(t *testing.T) {
	d := (&Derive{}).Describe()
	var schema map[string]any
	if err := json.Unmarshal(d.ConfigSchema, &schema); err != nil {
		t.Fatalf("config schema: %v", err)
	}
	if d.Name != "derive" || d.Kind != sdk.KindStep {
		t.Errorf("describe: %+v", d)
	}
}

func configure(t *testing.T, with string) *Derive {
	t.Helper()
	d := &Derive{}
	if err := d.Configure(context.Background(), sdk.Config{Workflow: "test", BlockID: "derive", With: json.RawMessage(with)}); err != nil {
		t.Fatalf("configure: %v", err)
	}
	return d
}
