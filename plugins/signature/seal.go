package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/paperflow/paperflow/plugins/sdk"
	sigfonts "github.com/paperflow/paperflow/plugins/signature/fonts"
	"github.com/paperflow/paperflow/plugins/signature/pdfsign"
	"github.com/paperflow/paperflow/plugins/template/fonts"
)

// sealKey holds the certificate and key that seal the signed PDFs, made on
// first use and shared by every process of this block through the KV.
const sealKey = "seal.pem"

// consentText is what a signer agrees to by ticking the box; the audit
// trail quotes it.
const consentText = "I agree to sign this document electronically, and that my typed (or drawn) signature is as binding as a handwritten one."

// configuredSealer loads the certificate the host configured to seal
// signed PDFs (paperflow --signing-cert, the host setting
// sdk.SettingSigningCert), if any: path is that PEM file.
func configuredSealer(path string) (*pdfsign.Signer, error) {
	if path == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing certificate (--signing-cert): %w", err)
	}
	s, err := pdfsign.ParsePEM(raw)
	if err != nil {
		return nil, fmt.Errorf("signing certificate %s (--signing-cert): %w", path, err)
	}
	return s, nil
}

// sealer returns the sealing certificate and key: the host's configured
// one, or else a self-signed one created on the first call of any process
// (compare-and-set: the first one stored wins).
func (b *Block) sealer(ctx context.Context) (*pdfsign.Signer, error) {
	b.sealMu.Lock()
	defer b.sealMu.Unlock()
	if b.seal != nil {
		return b.seal, nil
	}
	if s, err := configuredSealer(b.cfg.Settings[sdk.SettingSigningCert]); s != nil || err != nil {
		b.seal = s
		return s, err
	}
	for range 2 {
		raw, _, found, err := b.host().KVGet(ctx, sealKey)
		if err != nil {
			return nil, sdk.Retryable(err)
		}
		if found {
			s, err := pdfsign.ParsePEM(raw)
			if err != nil {
				return nil, fmt.Errorf("sealing certificate in the block state: %w", err)
			}
			b.seal = s
			return s, nil
		}
		s, err := pdfsign.NewSelfSigned(fmt.Sprintf("paperflow document seal (%s/%s)", b.cfg.Workflow, b.cfg.BlockID), b.now())
		if err != nil {
			return nil, err
		}
		pemBytes, err := s.MarshalPEM()
		if err != nil {
			return nil, err
		}
		_, err = b.host().KVPut(ctx, sealKey, pemBytes, 0)
		if err == nil {
			b.seal = s
			return s, nil
		}
		if !errors.Is(err, sdk.ErrConflict) {
			return nil, sdk.Retryable(err)
		}
		// Another process stored one first: use that.
	}
	return nil, sdk.Retryable(errors.New("sealing certificate: could not store or load it"))
}

// pageFonts are the template block's DejaVu faces, so names in any
// European script come out right on the signature and audit pages.
var pageFonts = pdfsign.Fonts{Regular: fonts.Regular.Data, Bold: fonts.Bold.Data, Has: fonts.Regular.Has}

// fillFonts draw field values: Kristi for signatures and initials, DejaVu
// Sans for the rest and for letters Kristi lacks.
var fillFonts = pdfsign.FillFonts{
	Script: sigfonts.Script.Data, ScriptHas: sigfonts.Script.Has,
	Regular: fonts.Regular.Data, RegularHas: fonts.Regular.Has,
}

// filledFields are the values to draw on document di: each field of each
// recipient who signed, in every place it has there. A signature field
// shows the drawn signature when there is one (drawn[i]), else the typed
// one.
func filledFields(r *request, di int, drawn map[int][]byte) []pdfsign.FilledField {
	var out []pdfsign.FilledField
	for _, f := range r.Fields {
		rc := r.Recipients[f.Recipient]
		if rc.Status != recipientSigned {
			continue
		}
		v := rc.Values[f.Name]
		mark := pdfsign.MarkText
		var img []byte
		switch f.Type {
		case fieldSignature:
			mark = pdfsign.MarkScript
			if png, ok := drawn[f.Recipient]; ok {
				mark, img = pdfsign.MarkImage, png
			}
		case fieldInitials:
			mark = pdfsign.MarkScript
		case fieldCheckbox:
			mark = pdfsign.MarkCheck
			if v != "yes" {
				v = ""
			}
		case fieldDate:
			if t, err := time.Parse(time.DateOnly, v); err == nil {
				v = t.Format("2 January 2006")
			}
		}
		for _, p := range f.Places {
			if p.Doc == di {
				out = append(out, pdfsign.FilledField{Page: p.Page, Box: pdfsign.Box{X: p.X, Y: p.Y, Width: p.W, Height: p.H}, Mark: mark, Text: v, Image: img})
			}
		}
	}
	return out
}

// sealDocuments makes and stores the signed PDF of each document.
func (b *Block) sealDocuments(ctx context.Context, r *request) ([]document, error) {
	s, err := b.sealer(ctx)
	if err != nil {
		return nil, err
	}
	rec := pdfsign.Record{RequestID: r.ID, Consent: consentText}
	order := slices.Clone(r.Recipients)
	slices.SortStableFunc(order, func(a, c recipient) int {
		if a.Order != c.Order {
			return a.Order - c.Order
		}
		return a.SignedAt.Compare(c.SignedAt)
	})
	for _, rc := range order {
		sig := pdfsign.Signature{Name: rc.Signature, Email: rc.Email, Order: rc.Order, SignedAt: rc.SignedAt, IP: rc.IP, UserAgent: rc.UserAgent}
		if rc.RemoteAddr != "" && rc.RemoteAddr != rc.IP {
			sig.IP += " (connection from " + rc.RemoteAddr + ")"
		}
		if rc.Drawn {
			i := slices.IndexFunc(r.Recipients, func(x recipient) bool { return x.Email == rc.Email })
			raw, _, found, err := b.host().KVGet(ctx, imageKey(r.ID, i))
			if err != nil {
				return nil, sdk.Retryable(err)
			}
			if found {
				sig.Image = raw
			}
		}
		rec.Signatures = append(rec.Signatures, sig)
	}
	for _, t := range r.Trail {
		rec.Trail = append(rec.Trail, pdfsign.AuditEvent{At: t.At, What: t.What})
	}
	now := b.now()
	drawn := map[int][]byte{}
	for i, rc := range r.Recipients {
		if !rc.Drawn {
			continue
		}
		raw, _, found, err := b.host().KVGet(ctx, imageKey(r.ID, i))
		if err != nil {
			return nil, sdk.Retryable(err)
		}
		if found {
			drawn[i] = raw
		}
	}
	out := make([]document, 0, len(r.Documents))
	for di, d := range r.Documents {
		_, data, err := b.host().GetDocument(ctx, d.ID)
		if err != nil {
			return nil, sdk.Retryable(err)
		}
		rec.Document = d.Name
		sealed, err := pdfsign.Seal(data, rec, s, pdfsign.Options{Fonts: pageFonts, Now: now, Fill: filledFields(r, di, drawn), FillFonts: fillFonts})
		if err != nil {
			return nil, fmt.Errorf("seal %q: %w", d.Name, err)
		}
		nd, err := b.host().PutDocument(ctx, signedName(d.Name), "application/pdf", sealed)
		if err != nil {
			return nil, sdk.Retryable(err)
		}
		out = append(out, document{ID: nd.ID, Name: nd.Name, Mimetype: nd.Mimetype, URL: nd.URL})
	}
	return out, nil
}

// signedName is "Contract (signed).pdf" for "Contract.pdf".
func signedName(name string) string {
	base := name
	if strings.HasSuffix(strings.ToLower(base), ".pdf") {
		base = base[:len(base)-4]
	}
	return base + " (signed).pdf"
}

// checkSealable fails early, when the request is made, for a document the
// block could not seal once everyone has signed.
func checkSealable(name string, data []byte) error {
	if !bytes.HasPrefix(bytes.TrimLeft(data, "\x00\t\r\n "), []byte("%PDF-")) {
		return fmt.Errorf("documents: %q is not a PDF file", name)
	}
	if bytes.Contains(data, []byte("/Encrypt")) {
		return fmt.Errorf("documents: %q is encrypted (password-protected); a signed PDF cannot be made from it: produce it without a password", name)
	}
	return nil
}
