package verify_test

import (
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/webhook/verify"
)

// FuzzParseHeader checks that any header value either parses into what
// the rules allow or is refused with an error wrapping ErrMalformed or
// ErrMissing, and never panics. Seeds are in testdata/fuzz/FuzzParseHeader.
func FuzzParseHeader(f *testing.F) {
	f.Add("t=1760000000,v1=" + strings.Repeat("0a", 32))
	f.Fuzz(func(t *testing.T, in string) {
		sig, err := verify.ParseHeader(in)
		if err != nil {
			return
		}
		if len(sig.V1) == 0 || len(sig.V1) > 32 {
			t.Fatalf("accepted %q with %d signatures", in, len(sig.V1))
		}
		if sig.Timestamp < 0 {
			t.Fatalf("accepted negative timestamp in %q", in)
		}
		for _, v := range sig.V1 {
			if len(v) != 32 {
				t.Fatalf("accepted a %d-byte signature in %q", len(v), in)
			}
			if !strings.Contains(strings.ToLower(in), hex.EncodeToString(v)) {
				t.Fatalf("signature %x does not come from %q", v, in)
			}
		}
		if !strings.Contains(in, "t="+strconv.FormatInt(sig.Timestamp, 10)) && !strings.Contains(in, "t=0") {
			t.Fatalf("timestamp %d does not come from %q", sig.Timestamp, in)
		}
	})
}
