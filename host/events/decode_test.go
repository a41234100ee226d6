package events

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// decodeCases are JSON texts, valid and not, with every kind of value,
// escape, spacing and error encoding/json distinguishes.
var decodeCases = []struct {
	in     string
	decode bool // decodeJSON decodes it itself rather than leave it to encoding/json
}{
	{`{}`, true}, {`[]`, true}, {`""`, true}, {`0`, true}, {`-0`, true}, {`true`, true}, {`false`, true}, {`null`, true},
	{` { "a" : [ 1 , -2.5e+3 , 0.001E-2 , true , false , null , "x" , { } , [ ] ] } `, true},
	{"\t\n\r{\"a\":1}\n", true},
	{`{"a":1,"a":2}`, true},
	{`{"é":"中文🙂","eventType":"DOCUMENTS_CREATED"}`, true},
	{`"\u00e9\n\t\"\\\/\b\f\r"`, true},
	{`"\ud83d\ude42 \ud83d alone \ude42 low \ud83d\u0041"`, true},
	{"\"bad \xff utf-8 \xe2\x82\"", true},
	{`1.7976931348623157e308`, true}, {`5e-324`, true}, {`1e-400`, true}, {`123456789012345678901234567890`, true},
	{`1e400`, false}, {`-1e400`, false},
	{``, false}, {` `, false}, {`{`, false}, {`[1,]`, false}, {`{"a":1,}`, false}, {`{"a" 1}`, false}, {`{a:1}`, false},
	{`01`, false}, {`-`, false}, {`1.`, false}, {`.5`, false}, {`1e`, false}, {`+1`, false}, {`0x10`, false},
	{`tru`, false}, {`nul`, false}, {`True`, false}, {`{} {}`, false}, {`{}x`, false}, {`"abc`, false},
	{"\"tab\tinside\"", false}, {`"\x"`, false}, {`"\'"`, false}, {`"\u12"`, false}, {`"\u12G4"`, false},
	{`[` + strings.Repeat(`[`, 600) + strings.Repeat(`]`, 600) + `]`, false},
	{strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000), false},
}

func TestDecodeJSONAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	keys := testValidator(t).keys
	for _, tt := range decodeCases {
		got, ok := decodeJSON([]byte(tt.in), keys)
		if ok != tt.decode {
			t.Errorf("%.40q: decodeJSON ok %v, want %v", tt.in, ok, tt.decode)
		}
		var want any
		err := json.Unmarshal([]byte(tt.in), &want)
		if ok && (err != nil || !reflect.DeepEqual(got, want)) {
			t.Errorf("%.40q: decodeJSON gave %#v, encoding/json %#v, %v", tt.in, got, want, err)
		}
	}
	for _, typ := range Types {
		raw, _ := json.Marshal(exampleEvent(t, typ))
		if _, ok := decodeJSON(raw, keys); !ok {
			t.Errorf("%s: decodeJSON leaves the example to encoding/json", typ)
		}
	}
}

// FuzzDecodeJSON fails when decodeJSON decodes what encoding/json refuses,
// or decodes it differently.
func FuzzDecodeJSON(f *testing.F) {
	for _, tt := range decodeCases {
		f.Add([]byte(tt.in))
	}
	for _, typ := range Types {
		raw, _ := json.Marshal(exampleEvent(f, typ))
		f.Add(raw)
	}
	keys := testValidator(f).keys
	f.Fuzz(func(t *testing.T, in []byte) {
		got, ok := decodeJSON(in, keys)
		if !ok {
			return
		}
		var want any
		if err := json.Unmarshal(in, &want); err != nil {
			t.Fatalf("decodeJSON decoded %q, which encoding/json refuses: %v", in, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decodeJSON gave %#v, encoding/json %#v", in, got, want)
		}
	})
}
