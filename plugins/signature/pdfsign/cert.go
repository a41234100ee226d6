package pdfsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Signer is the certificate and key a PDF is sealed with. Chain holds the
// intermediate certificates up to (not including) a root, when the
// certificate is not self-signed; they are embedded in the signature so a
// verifier can build the path.
type Signer struct {
	Certificate *x509.Certificate
	Chain       []*x509.Certificate
	Key         crypto.Signer
}

// SelfSignedValidity is how long a generated certificate is valid.
const SelfSignedValidity = 10 * 365 * 24 * time.Hour

// NewSelfSigned makes an ECDSA P-256 key and a self-signed certificate for
// sealing documents, named commonName. A verifier can check that a sealed
// document is unchanged with it, but will report the issuer as unknown
// (untrusted) unless the certificate is added to its trust store.
func NewSelfSigned(commonName string, now time.Time) (*Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pdfsign: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pdfsign: serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"paperflow"}},
		NotBefore:             now.Add(-time.Hour).UTC(),
		NotAfter:              now.Add(SelfSignedValidity).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		// A self-signed certificate is its own issuer. Marked as a CA and
		// without extended key usages, NSS (pdfsig, Firefox) reports it as
		// "issuer isn't trusted" until it is imported as a trust anchor;
		// an extended key usage on a CA makes NSS reject it outright.
		IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pdfsign: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pdfsign: parse certificate: %w", err)
	}
	return &Signer{Certificate: cert, Key: key}, nil
}

// MarshalPEM encodes the certificate, the chain and the key (PKCS #8) as
// PEM blocks, the form ParsePEM reads. The key is not encrypted: keep the
// result where only the host can read it.
func (s *Signer) MarshalPEM() ([]byte, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(s.Key)
	if err != nil {
		return nil, fmt.Errorf("pdfsign: encode key: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate.Raw})
	for _, c := range s.Chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...), nil
}

// ParsePEM reads a certificate, optional intermediate certificates and a
// private key (PKCS #8, PKCS #1 or SEC 1) from PEM blocks. The first
// certificate is the one whose key is given.
func ParsePEM(data []byte) (*Signer, error) {
	s := &Signer{}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("pdfsign: certificate: %w", err)
			}
			if s.Certificate == nil {
				s.Certificate = c
			} else {
				s.Chain = append(s.Chain, c)
			}
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			k, err := parseKey(b)
			if err != nil {
				return nil, err
			}
			s.Key = k
		}
	}
	if s.Certificate == nil || s.Key == nil {
		return nil, errors.New("pdfsign: want PEM blocks with a CERTIFICATE and its PRIVATE KEY")
	}
	if !publicKeysEqual(s.Certificate.PublicKey, s.Key.Public()) {
		return nil, errors.New("pdfsign: the private key does not belong to the (first) certificate")
	}
	return s, nil
}

func parseKey(b *pem.Block) (crypto.Signer, error) {
	var k any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("pdfsign: private key: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("pdfsign: private key of type %T: use RSA or ECDSA", k)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// Fingerprint is the SHA-256 of the certificate, in hex: what a person
// compares to know which certificate sealed a document.
func (s *Signer) Fingerprint() string {
	sum := sha256.Sum256(s.Certificate.Raw)
	return hex.EncodeToString(sum[:])
}
