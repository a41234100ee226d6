package main_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/events"
)

// TestPluginsEventsColumn: the plugins table keeps its EVENTS column
// narrow, going on over more lines for a block with many events (the
// webhook sink takes every type), and -o json lists every event.
func TestPluginsEventsColumn(t *testing.T) {
	t.Parallel()
	all := make([]string, len(events.Types))
	for i, et := range events.Types {
		all[i] = string(et)
	}

	r := paperflow(t, t.TempDir(), "plugins")
	if r.code != 0 {
		t.Fatalf("plugins: exit %d %s", r.code, r.stderr)
	}
	lines := strings.Split(r.stdout, "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "NAME") {
		t.Fatalf("plugins: no table header:\n%s", r.stdout)
	}
	col, routes := strings.Index(lines[1], "EVENTS"), strings.Index(lines[1], "ROUTES")
	if routes-col > 48 {
		t.Errorf("EVENTS column is %d wide, want at most 48:\n%s", routes-col, r.stdout)
	}
	// The webhook's row and the lines its events go on over.
	var cells []string
	for i, l := range lines {
		if strings.HasPrefix(l, "webhook ") {
			for _, more := range lines[i:] {
				if more != lines[i] && (len(more) <= col || strings.TrimSpace(more[:col]) != "") {
					break
				}
				cells = append(cells, strings.TrimRight(strings.TrimSpace(more[col:min(len(more), routes)]), ","))
			}
		}
	}
	var listed []string
	for _, c := range cells {
		listed = append(listed, strings.Split(c, ",")...)
	}
	if !slices.Equal(listed, all) {
		t.Errorf("webhook's events in the table: %q, want %q\n%s", listed, all, r.stdout)
	}

	r = paperflow(t, t.TempDir(), "plugins", "-o", "json")
	var blocks []struct {
		Name   string   `json:"name"`
		Kind   string   `json:"kind"`
		Events []string `json:"events"`
		Routes bool     `json:"routes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &blocks); r.code != 0 || err != nil {
		t.Fatalf("plugins -o json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	got := map[string][]string{}
	for _, b := range blocks {
		got[b.Name] = b.Events
		if b.Events == nil {
			t.Errorf("plugins -o json: %s has events null, want a list", b.Name)
		}
	}
	if !slices.Equal(got["webhook"], all) || !slices.Equal(got["template"], []string{"DOCUMENTS_CREATED"}) {
		t.Errorf("plugins -o json events: webhook %q, template %q", got["webhook"], got["template"])
	}
	if r := paperflow(t, t.TempDir(), "plugins", "-o", "yaml"); r.code == 0 || !strings.Contains(r.stderr, "use text or json") {
		t.Errorf("plugins -o yaml: exit %d %s, want it refused", r.code, r.stderr)
	}
}
