package pdfsign

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/go-pdf/fpdf"
)

// Signature is one signer as the signature page and the audit trail show
// them.
type Signature struct {
	// Name is the name the signer typed as their signature.
	Name  string
	Email string
	Order int
	// SignedAt is when the signature was recorded (shown in UTC).
	SignedAt time.Time
	// IP and UserAgent are those of the request that signed.
	IP, UserAgent string
	// Image is the signature the signer drew, as PNG; optional.
	Image []byte
}

// AuditEvent is one line of the audit trail: invitations, views,
// signatures.
type AuditEvent struct {
	At   time.Time
	What string
}

// Record is what the appended pages say about a completed request.
type Record struct {
	// Document is the name of the original document.
	Document string
	// RequestID identifies the signature request.
	RequestID  string
	Signatures []Signature
	Trail      []AuditEvent
	// Consent is the statement each signer agreed to before signing.
	Consent string
}

// Fonts are the TrueType faces the pages are set in. Without them the
// pages use the PDF core font Helvetica, which has Western European
// letters only (others come out as "?").
type Fonts struct {
	Regular, Bold []byte
	// Has says whether the faces have a glyph for r; runes they lack are
	// written as "?". Nil: every rune is assumed present.
	Has func(r rune) bool
}

// PageSize is a page's width and height in PDF points (1/72 inch).
type PageSize struct{ Width, Height float64 }

// A4 is the page size used when the original's cannot be read.
var A4 = PageSize{595.28, 841.89}

// pages lays out the signature page and the audit trail page as a PDF
// of their own, to be appended to the original.
type pages struct {
	pdf    *fpdf.Fpdf
	fonts  Fonts
	conv   func(string) string // to the font's encoding (core fonts)
	family string
	width  float64 // usable width, pt
}

// Appendix builds the signature and audit trail pages for rec. originalSHA
// is the hex SHA-256 of the original document, sealedBy says which
// certificate seals it (name and fingerprint).
func Appendix(rec Record, originalSHA string, size PageSize, fonts Fonts, sealedBy string, now time.Time) ([]byte, error) {
	if size.Width < 200 || size.Height < 200 {
		size = A4
	}
	pdf := fpdf.NewCustom(&fpdf.InitType{UnitStr: "pt", Size: fpdf.SizeType{Wd: size.Width, Ht: size.Height}})
	pdf.SetCreationDate(now)
	pdf.SetModificationDate(now)
	pdf.SetProducer("paperflow signature", false)
	pdf.SetTitle("Signatures - "+rec.Document, true)
	margin := 56.0
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(true, margin)
	p := &pages{pdf: pdf, fonts: fonts, width: size.Width - 2*margin}
	// The core font needs no embedding, which makes sealing several times
	// faster and the file smaller; the TrueType faces are for text it
	// cannot draw ("Łukasz").
	if len(fonts.Regular) > 0 && !fitsCP1252(rec, sealedBy) {
		p.family = "Sans"
		pdf.AddUTF8FontFromBytes(p.family, "", fonts.Regular)
		bold := fonts.Bold
		if len(bold) == 0 {
			bold = fonts.Regular
		}
		pdf.AddUTF8FontFromBytes(p.family, "B", bold)
		p.conv = func(s string) string { return s }
	} else {
		p.family = "Helvetica"
		p.conv = pdf.UnicodeTranslatorFromDescriptor("cp1252")
		p.fonts.Has = inCP1252
	}
	p.signaturePage(rec)
	p.auditPage(rec, originalSHA, sealedBy, now)
	var out bytes.Buffer
	if err := pdf.Output(&out); err != nil {
		return nil, fmt.Errorf("pdfsign: lay out the signature pages: %w", err)
	}
	return out.Bytes(), nil
}

// fitsCP1252 says whether the core fonts can draw all the pages' text.
func fitsCP1252(rec Record, more ...string) bool {
	texts := append([]string{rec.Document, rec.RequestID, rec.Consent}, more...)
	for _, s := range rec.Signatures {
		texts = append(texts, s.Name, s.Email, s.IP, s.UserAgent)
	}
	for _, e := range rec.Trail {
		texts = append(texts, e.What)
	}
	for _, t := range texts {
		for _, r := range t {
			if !inCP1252(r) && !unicode.IsControl(r) {
				return false
			}
		}
	}
	return true
}

// inCP1252 says whether the core fonts (Windows-1252) can draw r.
func inCP1252(r rune) bool {
	return r < 0x80 || (r >= 0xa0 && r <= 0xff) || strings.ContainsRune("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ", r)
}

// clean makes s printable in the font: control characters become spaces,
// runes the font lacks become "?".
func (p *pages) clean(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r):
			return ' '
		case p.fonts.Has != nil && !p.fonts.Has(r):
			return '?'
		}
		return r
	}, s)
	return p.conv(s)
}

func (p *pages) font(style string, size float64) { p.pdf.SetFont(p.family, style, size) }

func (p *pages) text(style string, size float64, s string) {
	p.font(style, size)
	p.pdf.MultiCell(p.width, size*1.35, p.clean(s), "", "L", false)
}

// field writes "label: value" with the label in grey.
func (p *pages) field(label, value string) {
	p.font("", 9)
	p.pdf.SetTextColor(90, 90, 90)
	p.pdf.CellFormat(110, 13, p.clean(label), "", 0, "L", false, 0, "")
	p.pdf.SetTextColor(0, 0, 0)
	p.pdf.MultiCell(p.width-110, 13, p.clean(value), "", "L", false)
}

func (p *pages) heading(title, sub string) {
	p.pdf.AddPage()
	p.text("B", 18, title)
	p.pdf.SetTextColor(90, 90, 90)
	p.text("", 10, sub)
	p.pdf.SetTextColor(0, 0, 0)
	p.pdf.Ln(10)
}

func (p *pages) rule() {
	y := p.pdf.GetY()
	p.pdf.SetDrawColor(200, 200, 200)
	l, _, _, _ := p.pdf.GetMargins()
	p.pdf.Line(l, y, l+p.width, y)
	p.pdf.Ln(8)
}

func (p *pages) signaturePage(rec Record) {
	p.heading("Signatures", rec.Document)
	for i, s := range rec.Signatures {
		if i > 0 {
			p.rule()
		}
		if len(s.Image) > 0 {
			p.image(i, s.Image)
		}
		p.pdf.SetTextColor(20, 40, 120)
		p.text("B", 20, s.Name)
		p.pdf.SetTextColor(0, 0, 0)
		p.pdf.Ln(2)
		p.field("Signed by", s.Name+" <"+s.Email+">")
		p.field("Date", s.SignedAt.UTC().Format("2 January 2006, 15:04:05 UTC"))
		p.field("Signing order", strconv.Itoa(s.Order))
		p.pdf.Ln(6)
	}
}

// image draws a signer's drawn signature, at most 220 × 70 pt; an image
// that cannot be read is left out.
func (p *pages) image(i int, png []byte) {
	name := "signature-" + strconv.Itoa(i)
	info := p.pdf.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(png))
	if info == nil || !p.pdf.Ok() {
		p.pdf.ClearError()
		return
	}
	w, h := info.Extent()
	scale := min(220/w, 70/h)
	if p.pdf.GetY()+h*scale > p.pageBottom() {
		p.pdf.AddPage()
	}
	l, _, _, _ := p.pdf.GetMargins()
	p.pdf.ImageOptions(name, l, p.pdf.GetY(), w*scale, h*scale, true, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
}

func (p *pages) pageBottom() float64 {
	_, h := p.pdf.GetPageSize()
	_, _, _, b := p.pdf.GetMargins()
	return h - b
}

func (p *pages) auditPage(rec Record, originalSHA, sealedBy string, now time.Time) {
	p.heading("Audit trail", rec.Document)
	p.field("Request", rec.RequestID)
	p.field("Original document", rec.Document)
	p.field("SHA-256 of original", originalSHA)
	p.field("Completed", now.UTC().Format(time.RFC3339))
	if sealedBy != "" {
		p.field("Sealed by", sealedBy)
	}
	if rec.Consent != "" {
		p.field("Signers agreed to", rec.Consent)
	}
	p.pdf.Ln(8)
	for _, s := range rec.Signatures {
		p.rule()
		p.text("B", 11, s.Name)
		p.field("Email", s.Email)
		p.field("Signed at", s.SignedAt.UTC().Format(time.RFC3339))
		p.field("IP address", s.IP)
		p.field("User agent", s.UserAgent)
	}
	if len(rec.Trail) > 0 {
		p.rule()
		p.text("B", 11, "Events")
		for _, e := range rec.Trail {
			p.field(e.At.UTC().Format("2006-01-02 15:04:05Z"), e.What)
		}
	}
	p.pdf.Ln(10)
	p.pdf.SetTextColor(90, 90, 90)
	p.text("", 8, "This document is sealed with a PDF digital signature over every page, these two pages included. "+
		"A PDF reader reports the signature invalid if anything is changed after sealing. "+
		"The SHA-256 above identifies the document as it was sent for signing.")
	p.pdf.SetTextColor(0, 0, 0)
}
