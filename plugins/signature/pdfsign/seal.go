// Package pdfsign makes the signed PDF of a completed signature request:
// the original pages, a page with each signature (name, date, the drawn
// signature if any) and an audit trail page (who, when, IP address, user
// agent, the SHA-256 of the original), sealed with a PDF digital signature.
//
// The pages are laid out with fpdf and appended with pdfcpu; the digital
// signature is written here, as an incremental update with a detached
// CMS SignedData (adbe.pkcs7.detached, SHA-256) over the whole file, the
// form Adobe Reader, poppler's pdfsig and other PDF tools verify.
//
//	s, _ := pdfsign.NewSelfSigned("Example Ltd document seal", time.Now())
//	signed, err := pdfsign.Seal(original, record, s, pdfsign.Options{})
package pdfsign

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
)

// Options tune Seal.
type Options struct {
	// Fonts for the appended pages (default: Helvetica, Latin-1 only).
	Fonts Fonts
	// Sign describes the digital signature; Reason and Name default to a
	// summary of the request.
	Sign SignInfo
	// Now is the completion time (default: time.Now).
	Now time.Time
	// Fill are the field values drawn on the original pages before the
	// signature pages are appended, in FillFonts.
	Fill      []FilledField
	FillFonts FillFonts
}

// Seal appends the signature and audit trail pages for rec to original and
// signs the result with s.
func Seal(original []byte, rec Record, s *Signer, o Options) ([]byte, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	sum := sha256.Sum256(original)
	pages, size := pageInfo(original)
	sealedBy := s.Certificate.Subject.CommonName + " (certificate SHA-256 " + s.Fingerprint() + ")"
	appendix, err := Appendix(rec, hex.EncodeToString(sum[:]), size, o.Fonts, sealedBy, o.Now)
	if err != nil {
		return nil, err
	}
	filled, err := Fill(original, o.Fill, o.FillFonts)
	if err != nil {
		return nil, err
	}
	merged, err := Append(stamp(filled, stampText(rec, o.Now, pages), pages), appendix)
	if err != nil {
		return nil, err
	}
	info := o.Sign
	if info.Time.IsZero() {
		info.Time = o.Now
	}
	if info.Reason == "" {
		info.Reason = "Signed electronically by " + signerNames(rec)
	}
	if info.Name == "" {
		info.Name = s.Certificate.Subject.CommonName
	}
	return Sign(merged, s, info)
}

func signerNames(rec Record) string {
	var b bytes.Buffer
	for i, sg := range rec.Signatures {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(sg.Name)
	}
	return b.String()
}

// pageInfo is the number of pages of pdf and the size of its last page,
// so the appended pages match it; 0 and A4 when it cannot be read.
func pageInfo(pdf []byte) (n int, size PageSize) {
	defer func() {
		if recover() != nil {
			n, size = 0, A4
		}
	}()
	dims, err := api.PageDims(bytes.NewReader(pdf), conf())
	if err != nil || len(dims) == 0 {
		return 0, A4
	}
	d := dims[len(dims)-1]
	return len(dims), PageSize{Width: d.Width, Height: d.Height}
}

// Append returns one PDF with the pages of original followed by those of
// appendix.
func Append(original, appendix []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("pdfsign: not a readable PDF: %v", p)
		}
	}()
	var buf bytes.Buffer
	if err := api.MergeRaw([]io.ReadSeeker{bytes.NewReader(original), bytes.NewReader(appendix)}, &buf, false, conf()); err != nil {
		return nil, fmt.Errorf("pdfsign: append the signature pages: %w", err)
	}
	return buf.Bytes(), nil
}

// stampText is the line stamped at the foot of every original page: who
// signed and when, and where the signatures and the audit trail are.
// Names are left out when the core font cannot draw them or they are too
// many for one line; the signature page has them all.
func stampText(rec Record, now time.Time, pages int) string {
	names := make([]string, len(rec.Signatures))
	for i, s := range rec.Signatures {
		names[i] = s.Name
	}
	who := strings.Join(names, ", ")
	fits := len(who) <= 90
	for _, r := range who {
		fits = fits && r >= 0x20 && r < 0x7f
	}
	if !fits {
		who = strconv.Itoa(len(rec.Signatures)) + " signers"
	}
	where := "on the last two pages"
	if pages > 0 {
		where = "on pages " + strconv.Itoa(pages+1) + "-" + strconv.Itoa(pages+2)
	}
	return "Signed electronically by " + who + " (completed " + now.UTC().Format("2 Jan 2006") + "). Signatures and audit trail " + where + "."
}

// stamp writes text at the foot of every one of the pages of pdf, as
// each page is shown. The stamp is a courtesy to the reader; a file that
// cannot be stamped is used as it is.
func stamp(pdf []byte, text string, pages int) []byte {
	if pages <= 0 {
		return pdf
	}
	lines := make([]FilledField, pages)
	for i := range lines {
		lines[i] = FilledField{Page: i + 1, Mark: markFooter, Text: text}
	}
	out, err := overlay(pdf, lines, FillFonts{})
	if err != nil {
		return pdf
	}
	return out
}
