package pdfsign

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"
)

// original is a two-page document as the template block makes them.
func original(t testing.TB) []byte {
	t.Helper()
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC))
	pdf.SetFont("Helvetica", "", 12)
	for i := 1; i <= 2; i++ {
		pdf.AddPage()
		pdf.MultiCell(0, 6, "Employment contract, page "+string(rune('0'+i))+".\nThe parties agree to everything written here.", "", "L", false)
	}
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func record() Record {
	at := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	return Record{
		Document: "Contract Łukasz Nowak.pdf", RequestID: "req-1234",
		Consent: "I agree to sign electronically.",
		Signatures: []Signature{
			{Name: "Łukasz Nowak", Email: "lukasz@example.com", Order: 1, SignedAt: at, IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux) Chrome/156"},
			{Name: "Zoë Ångström", Email: "zoe@example.com", Order: 2, SignedAt: at.Add(time.Hour), IP: "2001:db8::1", UserAgent: "curl/8"},
		},
		Trail: []AuditEvent{{At: at.Add(-time.Hour), What: "Invitation sent to lukasz@example.com"}},
	}
}

func testSigner(t testing.TB) *Signer {
	t.Helper()
	s, err := NewSelfSigned("paperflow test seal", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rsaSigner(t testing.TB) *Signer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "paperflow RSA test seal"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &Signer{Certificate: cert, Key: key}
}

// dejaVu is the template block's Unicode font, when the repository has it.
func dejaVu(t testing.TB) Fonts {
	regular, err1 := os.ReadFile("../../template/fonts/DejaVuSans.ttf")
	bold, err2 := os.ReadFile("../../template/fonts/DejaVuSans-Bold.ttf")
	if err1 != nil || err2 != nil {
		t.Log("DejaVu fonts not found; the pages use Helvetica")
		return Fonts{}
	}
	return Fonts{Regular: regular, Bold: bold}
}

// pdfsig runs poppler's pdfsig on pdf and returns its report.
func pdfsig(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdfsig")
	if err != nil {
		t.Skip("pdfsig not installed: apt-get install poppler-utils")
	}
	path := filepath.Join(t.TempDir(), "signed.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(bin, path).CombinedOutput() // exits non-zero for an invalid signature
	return string(out)
}

func pdftotext(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext not installed: apt-get install poppler-utils")
	}
	path := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-enc", "UTF-8", path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v: %s", err, out)
	}
	return string(out)
}

const valid = "Signature Validation: Signature is Valid."

func TestSealVerifiesWithPdfsig(t *testing.T) {
	t.Parallel()
	orig := original(t)
	for _, c := range []struct {
		name   string
		signer *Signer
		fonts  Fonts
	}{
		{"ecdsa, DejaVu", testSigner(t), dejaVu(t)},
		{"rsa, Helvetica", rsaSigner(t), Fonts{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			signed, err := Seal(orig, record(), c.signer, Options{Fonts: c.fonts})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(signed, []byte("%PDF-")) {
				t.Fatal("not a PDF")
			}
			report := pdfsig(t, signed)
			for _, want := range []string{valid, "Total document signed", "Certificate Validation: Certificate issuer", "adbe.pkcs7.detached", c.signer.Certificate.Subject.CommonName} {
				if !strings.Contains(report, want) {
					t.Errorf("pdfsig report lacks %q:\n%s", want, report)
				}
			}
			if _, err := Verify(signed); err != nil {
				t.Errorf("Verify: %v", err)
			}
			text := pdftotext(t, signed)
			want := []string{"Employment contract, page 1", "Signatures", "Audit trail", "Signed electronically by 2 signers", "Signatures and audit trail on pages 3-4", "203.0.113.7", "2001:db8::1",
				"Mozilla/5.0 (X11; Linux) Chrome/156", "req-1234", sha256Hex(orig), "Invitation sent to lukasz@example.com"}
			if c.fonts.Regular != nil {
				want = append(want, "Łukasz Nowak", "Zoë Ångström")
			} else {
				want = append(want, "?ukasz Nowak", "Zoë Ångström")
			}
			for _, w := range want {
				if !strings.Contains(text, w) {
					t.Errorf("signed PDF text lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestTamperingInvalidates(t *testing.T) {
	t.Parallel()
	signed, err := Seal(original(t), record(), testSigner(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Change one byte of the page text ("page 1" → "page 7"), inside the
	// signed range.
	i := bytes.Index(signed, []byte("%%EOF"))
	tampered := bytes.Clone(signed)
	tampered[i/2] ^= 0x01
	if _, err := Verify(tampered); err == nil {
		t.Error("Verify accepted a changed byte")
	}
	report := pdfsig(t, tampered)
	if strings.Contains(report, valid) {
		t.Errorf("pdfsig still says valid after a byte changed:\n%s", report)
	}
	// Appending anything also breaks "total document signed".
	grown := append(bytes.Clone(signed), "\n% more\n"...)
	if _, err := Verify(grown); err == nil {
		t.Error("Verify accepted bytes appended after signing")
	}
}

func TestSignExistingForm(t *testing.T) {
	t.Parallel()
	form, err := os.ReadFile("../../../examples/templates/form.pdf")
	if err != nil {
		t.Skip("examples/templates/form.pdf not present")
	}
	signed, err := Seal(form, record(), testSigner(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if report := pdfsig(t, signed); !strings.Contains(report, valid) {
		t.Errorf("pdfsig:\n%s", report)
	}
}

// TestSignTwice seals a sealed file again: the second signature is one
// more incremental update and both stay valid.
func TestSignTwice(t *testing.T) {
	t.Parallel()
	s := testSigner(t)
	once, err := Sign(original(t), s, SignInfo{Reason: "first"})
	if err != nil {
		t.Fatal(err)
	}
	twice, err := Sign(once, s, SignInfo{Reason: "second (ünïcödé)"})
	if err != nil {
		t.Fatal(err)
	}
	report := pdfsig(t, twice)
	if strings.Count(report, valid) != 2 {
		t.Errorf("want two valid signatures:\n%s", report)
	}
}

func TestPEMRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []*Signer{testSigner(t), rsaSigner(t)} {
		raw, err := s.MarshalPEM()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParsePEM(raw)
		if err != nil {
			t.Fatal(err)
		}
		if back.Fingerprint() != s.Fingerprint() {
			t.Error("certificate changed in the round trip")
		}
	}
	other := testSigner(t)
	mixed, _ := testSigner(t).MarshalPEM()
	keyAt := bytes.Index(mixed, []byte("-----BEGIN PRIVATE KEY"))
	otherPEM, _ := other.MarshalPEM()
	bad := append(append([]byte{}, mixed[:keyAt]...), otherPEM[bytes.Index(otherPEM, []byte("-----BEGIN PRIVATE KEY")):]...)
	if _, err := ParsePEM(bad); err == nil {
		t.Error("ParsePEM accepted a key that does not belong to the certificate")
	}
}

func TestRefusesBrokenInput(t *testing.T) {
	t.Parallel()
	s := testSigner(t)
	for name, in := range map[string][]byte{
		"empty":     nil,
		"not a pdf": []byte("hello"),
		"truncated": original(t)[:500],
	} {
		if _, err := Seal(in, record(), s, Options{}); err == nil {
			t.Errorf("%s: Seal succeeded", name)
		}
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
