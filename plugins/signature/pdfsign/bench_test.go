package pdfsign

import (
	"testing"
)

// BenchmarkSeal measures sealing a one-page document: the signature and
// audit trail pages, the merge and the digital signature. "latin" names
// fit the core font; "unicode" ones (Łukasz) need the embedded DejaVu
// face, which costs most of the time. BenchmarkSign is the digital
// signature alone.
func BenchmarkSeal(b *testing.B) {
	orig, s, fonts := original(b), testSigner(b), dejaVu(b)
	latin := record()
	latin.Signatures[0].Name, latin.Document = "Lukasz Nowak", "Contract.pdf"
	for _, c := range []struct {
		name string
		rec  Record
	}{{"latin", latin}, {"unicode", record()}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Seal(orig, c.rec, s, Options{Fonts: fonts}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	orig, s := original(b), testSigner(b)
	for b.Loop() {
		if _, err := Sign(orig, s, SignInfo{}); err != nil {
			b.Fatal(err)
		}
	}
}
