package delivery_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/plugins/websend"
)

// TestSeedPayloads checks every main event type against the seed's
// example payload (testdata/seed): the example, with the metadata
// paperflow adds, is a valid event; and removing any field it shows, or
// giving it another JSON type, makes the event invalid. Every event is
// validated before it is published and a webhook sends it as published,
// so every event a receiver gets has each field the seed shows, with the
// seed's name and JSON type.
func TestSeedPayloads(t *testing.T) {
	t.Parallel()
	v, err := events.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range websend.DefaultEvents {
		t.Run(typ, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "seed", strings.ToLower(typ)+".json"))
			if err != nil {
				t.Fatalf("no seed example for %s: %v", typ, err)
			}
			var seed map[string]any
			if err := json.Unmarshal(raw, &seed); err != nil {
				t.Fatal(err)
			}
			withMeta := func(env map[string]any) []byte {
				env["metadata"] = map[string]any{"workflow": "invoices", "run_id": "r1", "item_id": "1", "block_id": "b", "created_at": "2026-03-14T09:00:00Z"}
				out, _ := json.Marshal(env)
				return out
			}
			if err := v.Validate(withMeta(clone(seed))); err != nil {
				t.Fatalf("the seed's payload is not a valid %s: %v", typ, err)
			}
			for _, path := range fieldPaths(seed, nil) {
				where := strings.Join(path, ".")
				gone := clone(seed)
				set(gone, path, nil, true)
				if v.Validate(withMeta(gone)) == nil {
					t.Errorf("%s: an event without %s is valid, so a receiver of the seed's payload may miss it", typ, where)
				}
				retyped := clone(seed)
				set(retyped, path, otherType(get(seed, path)), false)
				if v.Validate(withMeta(retyped)) == nil {
					t.Errorf("%s: %s may have another JSON type than the seed's (%T)", typ, where, get(seed, path))
				}
			}
		})
	}
}

// fieldPaths lists the path of every object field under v; a list is
// represented by its first element.
func fieldPaths(v any, prefix []string) [][]string {
	var out [][]string
	switch x := v.(type) {
	case map[string]any:
		for k, item := range x {
			p := append(append([]string(nil), prefix...), k)
			out = append(out, p)
			out = append(out, fieldPaths(item, p)...)
		}
	case []any:
		if len(x) > 0 {
			out = append(out, fieldPaths(x[0], append(append([]string(nil), prefix...), "0"))...)
		}
	}
	return out
}

func clone(v map[string]any) map[string]any {
	raw, _ := json.Marshal(v)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

func get(v any, path []string) any {
	for _, seg := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			i, _ := strconv.Atoi(seg)
			v = x[i]
		}
	}
	return v
}

// set replaces (or with del removes) the field at path.
func set(root map[string]any, path []string, value any, del bool) {
	parent := get(root, path[:len(path)-1]).(map[string]any)
	if del {
		delete(parent, path[len(path)-1])
		return
	}
	parent[path[len(path)-1]] = value
}

// otherType is a value of another JSON type than v.
func otherType(v any) any {
	switch v.(type) {
	case string:
		return 1
	case float64, bool:
		return "1"
	case []any:
		return map[string]any{}
	default:
		return []any{}
	}
}
