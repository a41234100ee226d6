package engine

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// TestHandWrittenJSONReadsAsEncodingJSONWrites: the checkpoint record and
// an item's blocks object, written by hand, read back as what
// encoding/json writes for them, whatever the ids hold.
func TestHandWrittenJSONReadsAsEncodingJSONWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		ids  []string
		cps  []*checkpoint
	}{
		{name: "one item", ids: []string{"1"}, cps: []*checkpoint{{Outputs: json.RawMessage(`{}`)}}},
		{name: "outputs and events", ids: []string{"7", "8"}, cps: []*checkpoint{
			{Outputs: json.RawMessage(`{"a":[1,2],"b":"x"}`), Events: map[string]int{"DOCUMENTS_CREATED": 2}},
			{Events: map[string]int{"EMAIL_SENT": 1}},
		}},
		{name: "ids to escape", ids: []string{`quo"te`, "back\\slash", "<tag>&", "ünï", "line\nbreak"}, cps: []*checkpoint{
			{Outputs: json.RawMessage(`1`)}, {Outputs: json.RawMessage(`"s"`)}, {}, {Outputs: json.RawMessage(`null`)}, {Outputs: json.RawMessage(`{"skipped":true}`)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := checkpointRecord{Items: map[string]*checkpoint{}}
			outputs := map[string]json.RawMessage{}
			for i, id := range tc.ids {
				want.Items[id] = tc.cps[i]
				if len(tc.cps[i].Outputs) > 0 {
					outputs[id] = tc.cps[i].Outputs
				}
			}
			raw, err := encodeCheckpoints(tc.ids, tc.cps)
			if err != nil {
				t.Fatal(err)
			}
			var got, std checkpointRecord
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			stdRaw, _ := json.Marshal(want)
			if err := json.Unmarshal(stdRaw, &std); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, std) {
				t.Errorf("checkpoints:\n got %s\nwant %s", raw, stdRaw)
			}

			it := &item{outputs: outputs}
			blocks, stdBlocks := it.blocksJSON(), []byte(nil)
			if len(outputs) > 0 {
				stdBlocks, _ = json.Marshal(outputs)
			}
			if !bytes.Equal(blocks, stdBlocks) {
				t.Errorf("blocks:\n got %s\nwant %s", blocks, stdBlocks)
			}
		})
	}
}
