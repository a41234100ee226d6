package console

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
)

func TestFilters(t *testing.T) {
	statuses := []string{"running", "failed"}
	tests := []struct {
		name      string
		query     string
		value     string // the status chosen
		want      []string
		dontWant  []string
		wantQuery string
	}{
		{name: "none", query: "", want: []string{`<option value="running">running</option>`}, dontWant: []string{"selected"}},
		{name: "chosen", query: "status=failed", value: "failed", want: []string{`<option value="failed" selected>failed</option>`}, wantQuery: "status=failed"},
		{name: "unknown dropped", query: "status=nope", dontWant: []string{"nope", "selected"}},
	}
	pages := mustPages()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			f := filterForm{Action: "/runs", Filters: []filter{newFilter(q, "status", "Status", statuses)}}
			if got := f.Value("status"); got != tc.value {
				t.Fatalf("Value: %q, want %q", got, tc.value)
			}
			if got := f.Query().Encode(); got != tc.wantQuery {
				t.Fatalf("Query: %q, want %q", got, tc.wantQuery)
			}
			var buf bytes.Buffer
			if err := pages.byName["runs"].ExecuteTemplate(&buf, "filters", f); err != nil {
				t.Fatal(err)
			}
			html := buf.String()
			for _, s := range append(tc.want, `action="/runs"`, `<label for="f-status">Status</label>`, `<select id="f-status" name="status">`) {
				if !strings.Contains(html, s) {
					t.Errorf("the form lacks %s:\n%s", s, html)
				}
			}
			for _, s := range tc.dontWant {
				if strings.Contains(html, s) {
					t.Errorf("the form has %s:\n%s", s, html)
				}
			}
		})
	}
}
