package jsontext_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/paperflow/paperflow/host/internal/jsontext"
)

// marshal is what encoding/json writes for s with HTML escaping off.
func marshal(t testing.TB, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendStringWritesWhatEncodingJSONWrites(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "nl\n\r\t", "\b\f", "\x00\x1f\x7f", "<&>", "é€😀", "\u2028\u2029", "bad\xffutf8", "\xed\xa0\x80"} {
		if got, want := jsontext.AppendString([]byte("x"), s), append([]byte("x"), marshal(t, s)...); !bytes.Equal(got, want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("plain")
	f.Add("\x00<\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := jsontext.AppendString(nil, s), marshal(t, s); !bytes.Equal(got, want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	})
}
