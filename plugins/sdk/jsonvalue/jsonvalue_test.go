package jsonvalue

import (
	"encoding/json"
	"testing"
)

func TestAt(t *testing.T) {
	var doc any
	if err := json.Unmarshal([]byte(`{"a":{"b":[10,{"c":"x"}]},"a.b":1}`), &doc); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path []string
		want any
		ok   bool
	}{
		{nil, doc, true},
		{[]string{"a", "b", "0"}, 10.0, true},
		{[]string{"a", "b", "1", "c"}, "x", true},
		{[]string{"a.b"}, 1.0, true},
		{[]string{"a", "b", "2"}, nil, false},
		{[]string{"a", "b", "-1"}, nil, false},
		{[]string{"a", "b", "x"}, nil, false},
		{[]string{"a", "B"}, nil, false},
		{[]string{"a", "b", "0", "c"}, nil, false},
	} {
		got, ok := At(doc, tc.path)
		if ok != tc.ok {
			t.Errorf("At(%q) ok = %v, want %v", tc.path, ok, tc.ok)
			continue
		}
		if ok && tc.path != nil {
			if g, w := mustJSON(t, got), mustJSON(t, tc.want); g != w {
				t.Errorf("At(%q) = %s, want %s", tc.path, g, w)
			}
		}
	}
}

func TestMarshalKeepsHTML(t *testing.T) {
	got, err := Marshal(map[string]string{"id": "<abc@host> & co"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"<abc@host> & co"}`; string(got) != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
