package mail

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// TestAppendBase64Lines checks the encoder against the whole encoding cut
// into 76-character lines, around the line boundaries, and
// that base64LinesLen sizes it exactly.
func TestAppendBase64Lines(t *testing.T) {
	for _, n := range []int{0, 1, 56, 57, 58, 113, 114, 115, 57 * 64, 57*64 + 1, 57 * 128, 30_000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*31 + i/7)
		}
		enc := base64.StdEncoding.EncodeToString(data)
		var want strings.Builder
		for len(enc) > 76 {
			want.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		want.WriteString(enc + "\r\n")
		out := appendBase64Lines([]byte("kept"), data)
		got, ok := bytes.CutPrefix(out, []byte("kept"))
		if !ok || string(got) != want.String() {
			t.Errorf("%d bytes: encoding differs from the reference", n)
		}
		if l := base64LinesLen(n); l < len(got) {
			t.Errorf("%d bytes: base64LinesLen %d, wrote %d", n, l, len(got))
		}
	}
}
