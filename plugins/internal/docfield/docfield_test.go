package docfield

import (
	"reflect"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
)

func TestParse(t *testing.T) {
	cases := []struct {
		entry   string
		want    []sdk.Document
		wantErr string
	}{
		{entry: `{"id": "d1", "name": "cv.pdf", "mimetype": "application/pdf", "url": "/d/d1", "size": 12}`,
			want: []sdk.Document{{ID: "d1", Name: "cv.pdf", Mimetype: "application/pdf", URL: "/d/d1"}}},
		{entry: `[{"id": "d1", "name": "a.pdf"}, {"id": "d2", "name": "b.pdf"}]`,
			want: []sdk.Document{{ID: "d1", Name: "a.pdf"}, {ID: "d2", Name: "b.pdf"}}},
		{entry: `[]`, want: []sdk.Document{}},
		{entry: `{not json`, wantErr: "is not a document: name a field that holds an uploaded PDF"},
		{entry: `[1, 2]`, wantErr: "is not a list of documents: name a field that holds uploaded PDFs"},
		{entry: `{"name": "cv.pdf"}`, wantErr: "has no document id: name a field that holds an uploaded PDF"},
	}
	for _, c := range cases {
		if !Is(c.entry) {
			t.Errorf("Is(%s) = false", c.entry)
		}
		got, err := Parse(c.entry, "PDF")
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Parse(%s) error = %v, want %q", c.entry, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%s) = %v, %v; want %v", c.entry, got, err, c.want)
		}
	}
}

func TestIsBlockID(t *testing.T) {
	for _, entry := range []string{"", "invoice", "contract-2"} {
		if Is(entry) {
			t.Errorf("Is(%q) = true, want false: the id of a block", entry)
		}
	}
}
