package pdfsign

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"go.mozilla.org/pkcs7"
)

var byteRangePattern = regexp.MustCompile(`/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]`)

// Verify checks the last digital signature of a sealed PDF: its byte
// range covers the whole file except the signature itself, and the CMS
// signature over those bytes is valid. It returns the signing certificate.
// It does not decide whether to trust that certificate.
func Verify(pdf []byte) (*x509.Certificate, error) {
	all := byteRangePattern.FindAllSubmatchIndex(pdf, -1)
	if len(all) == 0 {
		return nil, errors.New("pdfsign: no signature (/ByteRange) in the file")
	}
	m := all[len(all)-1]
	var r [4]int
	for i := range r {
		n, err := strconv.Atoi(string(pdf[m[2+2*i]:m[3+2*i]]))
		if err != nil {
			return nil, fmt.Errorf("pdfsign: byte range: %w", err)
		}
		r[i] = n
	}
	if r[0] != 0 || r[1] <= 0 || r[2] <= r[1] || r[2]+r[3] != len(pdf) {
		return nil, fmt.Errorf("pdfsign: byte range %v does not cover the file of %d bytes: it was changed after signing", r, len(pdf))
	}
	hole := pdf[r[1]:r[2]]
	if len(hole) < 2 || hole[0] != '<' || hole[len(hole)-1] != '>' {
		return nil, errors.New("pdfsign: the byte range does not exclude exactly the /Contents string")
	}
	// The string is zero-padded after the DER structure; Unmarshal stops
	// at its end.
	raw, err := hex.DecodeString(string(hole[1 : len(hole)-1]))
	if err != nil {
		return nil, fmt.Errorf("pdfsign: /Contents is not hex: %w", err)
	}
	var der asn1.RawValue
	if _, err := asn1.Unmarshal(raw, &der); err != nil {
		return nil, fmt.Errorf("pdfsign: /Contents is not a CMS structure: %w", err)
	}
	p7, err := pkcs7.Parse(der.FullBytes)
	if err != nil {
		return nil, fmt.Errorf("pdfsign: /Contents: %w", err)
	}
	signed := make([]byte, 0, r[1]+r[3])
	p7.Content = append(append(signed, pdf[:r[1]]...), pdf[r[2]:]...)
	if err := p7.Verify(); err != nil {
		return nil, fmt.Errorf("pdfsign: the signature does not match the document: %w", err)
	}
	return p7.GetOnlySigner(), nil
}
