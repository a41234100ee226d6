package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/plugins/signature/pdfsign"
)

// TestConfiguredSigningCertificate: the host's --signing-cert reaches the
// block in its settings and is the one that seals.
func TestConfiguredSigningCertificate(t *testing.T) {
	own, err := pdfsign.NewSelfSigned("Acme Corp document seal", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := own.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "seal.pem")
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := configuredSealer(path)
	if err != nil || s == nil || s.Certificate.Subject.CommonName != "Acme Corp document seal" {
		t.Fatalf("configured sealer: %v, %v", s, err)
	}

	bad := filepath.Join(t.TempDir(), "bad.pem")
	_ = os.WriteFile(bad, []byte("not a certificate"), 0o600)
	if _, err := configuredSealer(bad); err == nil || !strings.Contains(err.Error(), "--signing-cert") {
		t.Fatalf("a broken file must be an error naming the flag, got %v", err)
	}
	if s, err := configuredSealer(""); s != nil || err != nil {
		t.Fatalf("unset: want the generated certificate path, got %v %v", s, err)
	}
}
