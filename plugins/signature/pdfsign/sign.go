package pdfsign

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
	"go.mozilla.org/pkcs7"
)

func init() {
	// pdfcpu would otherwise create a configuration directory in the
	// user's home on first use; this package needs none.
	model.ConfigPath = "disable"
}

// SignInfo describes a digital signature for the /Sig dictionary.
type SignInfo struct {
	// Name, Reason, Location and ContactInfo are shown by PDF readers in
	// the signature panel. All optional.
	Name, Reason, Location, ContactInfo string
	// Time is the signing time (/M); zero means now.
	Time time.Time
	// Field names the signature field; default "Signature<n>".
	Field string
}

// Sign seals pdf with a PDF digital signature and returns the new file.
//
// The signature is an incremental update: the original bytes stay as they
// are and an update is appended that adds an invisible signature field
// (to the AcroForm, on the last page) and its /Sig dictionary with
// /Filter /Adobe.PPKLite and /SubFilter /adbe.pkcs7.detached. Its
// /Contents is a detached CMS SignedData (SHA-256, with signed attributes)
// over the /ByteRange: every byte of the file except /Contents itself. So
// changing any byte afterwards makes verifiers report the signature
// invalid.
func Sign(pdf []byte, s *Signer, info SignInfo) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil { // pdfcpu panics on some broken files
			out, err = nil, fmt.Errorf("pdfsign: not a readable PDF: %v", p)
		}
	}()
	if s == nil || s.Certificate == nil || s.Key == nil {
		return nil, errors.New("pdfsign: no certificate and key to sign with")
	}
	doc, err := readDoc(pdf)
	if err != nil {
		return nil, err
	}
	if info.Time.IsZero() {
		info.Time = time.Now()
	}
	u, hole, err := doc.update(s, info)
	if err != nil {
		return nil, err
	}
	out = make([]byte, 0, len(pdf)+len(u))
	out = append(append(out, pdf...), u...)
	hole.start += len(pdf)
	hole.end += len(pdf)
	hole.rangeAt += len(pdf)
	if err := hole.fill(out, s); err != nil {
		return nil, err
	}
	return out, nil
}

// doc is what the update needs to know about the file it extends.
type doc struct {
	ctx      *model.Context
	length   int // of the file before the update
	prevXref int64
	xrefStm  bool // the last cross-reference section is a stream
	size     int  // the trailer's /Size: the next free object number
}

func conf() *model.Configuration {
	c := model.NewDefaultConfiguration()
	c.ValidationMode = model.ValidationRelaxed
	return c
}

func readDoc(pdf []byte) (*doc, error) {
	prev, err := lastStartXref(pdf)
	if err != nil {
		return nil, err
	}
	ctx, err := api.ReadContext(bytes.NewReader(pdf), conf())
	if err != nil {
		return nil, fmt.Errorf("pdfsign: not a readable PDF: %w", err)
	}
	x := ctx.XRefTable
	if x.Encrypt != nil {
		return nil, errors.New("pdfsign: the PDF is encrypted; seal it before encrypting, or sign an unencrypted copy")
	}
	if x.Root == nil {
		return nil, errors.New("pdfsign: the PDF has no catalog (/Root)")
	}
	if err := x.EnsurePageCount(); err != nil {
		return nil, fmt.Errorf("pdfsign: page tree: %w", err)
	}
	if ctx.PageCount < 1 {
		return nil, errors.New("pdfsign: the PDF has no pages")
	}
	d := &doc{ctx: ctx, length: len(pdf), prevXref: prev, xrefStm: !bytes.HasPrefix(bytes.TrimLeft(pdf[prev:], " \t\r\n"), []byte("xref"))}
	if x.Size != nil {
		d.size = *x.Size
	}
	for n := range x.Table {
		d.size = max(d.size, n+1)
	}
	return d, nil
}

// lastStartXref finds the offset the file's last `startxref` points to.
func lastStartXref(pdf []byte) (int64, error) {
	tail := pdf[max(0, len(pdf)-4096):]
	i := bytes.LastIndex(tail, []byte("startxref"))
	if i < 0 {
		return 0, errors.New("pdfsign: not a PDF: no startxref at the end of the file")
	}
	fields := strings.Fields(string(tail[i+len("startxref"):]))
	if len(fields) == 0 {
		return 0, errors.New("pdfsign: startxref without an offset")
	}
	off, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || off <= 0 || off >= int64(len(pdf)) {
		return 0, fmt.Errorf("pdfsign: startxref %q is not an offset in the file", fields[0])
	}
	return off, nil
}

// contentsHole is where the CMS goes: the hex string between start ('<')
// and end (after '>'), and the fixed-width /ByteRange array at rangeAt.
type contentsHole struct {
	start, end int
	rangeAt    int
	rangeWidth int
}

// byteRangePlaceholder is wide enough for offsets up to 10^10 bytes.
const byteRangePlaceholder = "[0 0000000000 0000000000 0000000000]"

func (h contentsHole) fill(out []byte, s *Signer) error {
	br := fmt.Sprintf("[0 %d %d %d", h.start, h.end, len(out)-h.end)
	if len(br)+1 > h.rangeWidth {
		return errors.New("pdfsign: file too large for the byte range")
	}
	br += strings.Repeat(" ", h.rangeWidth-len(br)-1) + "]"
	copy(out[h.rangeAt:], br)

	signed := make([]byte, 0, h.start+len(out)-h.end)
	signed = append(append(signed, out[:h.start]...), out[h.end:]...)
	cms, err := detachedCMS(signed, s)
	if err != nil {
		return err
	}
	room := h.end - h.start - 2
	enc := hex.EncodeToString(cms)
	if len(enc) > room {
		return fmt.Errorf("pdfsign: signature is %d bytes; only %d reserved", len(cms), room/2)
	}
	copy(out[h.start+1:], enc)
	return nil
}

// detachedCMS signs data: a CMS SignedData with SHA-256, the signed
// attributes content type, message digest and signing time, the
// certificate (and chain), without the data itself.
func detachedCMS(data []byte, s *Signer) ([]byte, error) {
	sd, err := pkcs7.NewSignedData(data)
	if err != nil {
		return nil, fmt.Errorf("pdfsign: cms: %w", err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSignerChain(s.Certificate, s.Key, s.Chain, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, fmt.Errorf("pdfsign: cms signer: %w", err)
	}
	sd.Detach()
	out, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("pdfsign: cms: %w", err)
	}
	return out, nil
}

// reserve is how many bytes /Contents holds: the certificates, plus room
// for the signed attributes and an RSA-4096 signature.
func reserve(s *Signer) int {
	n := len(s.Certificate.Raw) + 2048
	for _, c := range s.Chain {
		n += len(c.Raw)
	}
	return n
}

// writer collects the objects of an incremental update and their offsets
// (relative to the end of the original file).
type writer struct {
	buf     bytes.Buffer
	base    int // where the update starts in the file
	entries map[int]xrefEntry
}

type xrefEntry struct {
	offset int
	gen    int
}

func (w *writer) object(num, gen int, body string) {
	w.entries[num] = xrefEntry{offset: w.buf.Len(), gen: gen}
	fmt.Fprintf(&w.buf, "%d %d obj\n%s\nendobj\n", num, gen, body)
}

// update writes the appended part of the file: the changed page and
// catalog (or AcroForm), the field, the signature dictionary and a
// cross-reference section.
func (d *doc) update(s *Signer, info SignInfo) ([]byte, contentsHole, error) {
	x := d.ctx.XRefTable
	sigNum, fieldNum := d.size, d.size+1
	size := d.size + 2
	w := &writer{base: d.length, entries: map[int]xrefEntry{}}
	w.buf.WriteString("\n")

	_, pageRef, _, err := x.PageDict(d.ctx.PageCount, false)
	if err != nil || pageRef == nil {
		return nil, contentsHole{}, fmt.Errorf("pdfsign: last page: %v", err)
	}
	page, err := x.DereferenceDict(*pageRef)
	if err != nil || page == nil {
		return nil, contentsHole{}, fmt.Errorf("pdfsign: last page: %v", err)
	}
	page = page.Clone().(types.Dict)
	fieldRef := *types.NewIndirectRef(fieldNum, 0)
	annots, err := x.DereferenceArray(page["Annots"])
	if err != nil {
		return nil, contentsHole{}, fmt.Errorf("pdfsign: page annotations: %w", err)
	}
	page["Annots"] = append(slices.Clone(annots), fieldRef)
	w.object(pageRef.ObjectNumber.Value(), pageRef.GenerationNumber.Value(), page.PDFString())

	if err := d.addField(w, fieldRef); err != nil {
		return nil, contentsHole{}, err
	}
	name := info.Field
	if name == "" {
		name = "Signature" + strconv.Itoa(sigNum)
	}
	w.object(fieldNum, 0, fmt.Sprintf("<</Type/Annot/Subtype/Widget/FT/Sig/T%s/V %d 0 R/F 132/Rect[0 0 0 0]/P %s>>",
		textString(name), sigNum, pageRef.PDFString()))

	// The signature dictionary: /Contents last but one, so the hole is easy
	// to see in a hex dump.
	var sig bytes.Buffer
	sig.WriteString("<</Type/Sig/Filter/Adobe.PPKLite/SubFilter/adbe.pkcs7.detached")
	for _, kv := range []struct{ key, v string }{{"Name", info.Name}, {"Reason", info.Reason}, {"Location", info.Location}, {"ContactInfo", info.ContactInfo}} {
		if kv.v != "" {
			fmt.Fprintf(&sig, "/%s%s", kv.key, textString(kv.v))
		}
	}
	fmt.Fprintf(&sig, "/M%s/ByteRange", textString(pdfDate(info.Time)))
	w.entries[sigNum] = xrefEntry{offset: w.buf.Len(), gen: 0}
	fmt.Fprintf(&w.buf, "%d 0 obj\n", sigNum)
	w.buf.Write(sig.Bytes())
	hole := contentsHole{rangeAt: w.buf.Len(), rangeWidth: len(byteRangePlaceholder)}
	w.buf.WriteString(byteRangePlaceholder)
	w.buf.WriteString("/Contents")
	hole.start = w.buf.Len()
	w.buf.WriteByte('<')
	w.buf.Write(bytes.Repeat([]byte{'0'}, 2*reserve(s)))
	w.buf.WriteByte('>')
	hole.end = w.buf.Len()
	w.buf.WriteString(">>\nendobj\n")

	if d.xrefStm {
		d.writeXrefStream(w, size)
	} else {
		d.writeXrefTable(w, size)
	}
	return w.buf.Bytes(), hole, nil
}

// addField puts the signature field into the document's AcroForm: a new
// one in the catalog, or the existing one (direct or an object of its own)
// with the field appended and /SigFlags 3 (signatures exist, append only).
func (d *doc) addField(w *writer, fieldRef types.IndirectRef) error {
	x := d.ctx.XRefTable
	root, err := x.DereferenceDict(*x.Root)
	if err != nil || root == nil {
		return fmt.Errorf("pdfsign: catalog: %v", err)
	}
	root = root.Clone().(types.Dict)
	var form types.Dict
	formRef, indirect := root["AcroForm"].(types.IndirectRef)
	if indirect {
		if form, err = x.DereferenceDict(formRef); err != nil {
			return fmt.Errorf("pdfsign: AcroForm: %w", err)
		}
	} else if f, ok := root["AcroForm"].(types.Dict); ok {
		form = f
	}
	if form == nil {
		form = types.Dict{}
	} else {
		form = form.Clone().(types.Dict)
	}
	fields, err := x.DereferenceArray(form["Fields"])
	if err != nil {
		return fmt.Errorf("pdfsign: AcroForm fields: %w", err)
	}
	form["Fields"] = append(slices.Clone(fields), fieldRef)
	form["SigFlags"] = types.Integer(3)
	if indirect && form != nil {
		w.object(formRef.ObjectNumber.Value(), formRef.GenerationNumber.Value(), form.PDFString())
		return nil
	}
	root["AcroForm"] = form
	w.object(x.Root.ObjectNumber.Value(), x.Root.GenerationNumber.Value(), root.PDFString())
	return nil
}

// trailerEntries are the trailer keys the update carries over.
func (d *doc) trailerEntries(size int) string {
	x := d.ctx.XRefTable
	var b strings.Builder
	fmt.Fprintf(&b, "/Size %d/Root %s/Prev %d", size, x.Root.PDFString(), d.prevXref)
	if x.Info != nil {
		fmt.Fprintf(&b, "/Info %s", x.Info.PDFString())
	}
	if len(x.ID) > 0 {
		fmt.Fprintf(&b, "/ID%s", x.ID.PDFString())
	}
	return b.String()
}

// subsections groups the changed object numbers into runs of consecutive
// numbers, as cross-reference sections list them.
func subsections(entries map[int]xrefEntry) [][]int {
	nums := make([]int, 0, len(entries))
	for n := range entries {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	var runs [][]int
	for _, n := range nums {
		if l := len(runs); l > 0 && runs[l-1][len(runs[l-1])-1] == n-1 {
			runs[l-1] = append(runs[l-1], n)
			continue
		}
		runs = append(runs, []int{n})
	}
	return runs
}

func (d *doc) writeXrefTable(w *writer, size int) {
	at := w.buf.Len()
	w.buf.WriteString("xref\n")
	for _, run := range subsections(w.entries) {
		fmt.Fprintf(&w.buf, "%d %d\n", run[0], len(run))
		for _, n := range run {
			e := w.entries[n]
			fmt.Fprintf(&w.buf, "%010d %05d n\r\n", w.base+e.offset, e.gen)
		}
	}
	fmt.Fprintf(&w.buf, "trailer\n<<%s>>\nstartxref\n%d\n%%%%EOF\n", d.trailerEntries(size), w.base+at)
}

// writeXrefStream writes the cross-reference section as a stream, for a
// file whose previous section is one: a reader that follows /Prev then
// sees one kind of section throughout.
func (d *doc) writeXrefStream(w *writer, size int) {
	num := size
	size++
	w.entries[num] = xrefEntry{offset: w.buf.Len()}
	var data bytes.Buffer
	var index strings.Builder
	for _, run := range subsections(w.entries) {
		fmt.Fprintf(&index, "%d %d ", run[0], len(run))
		for _, n := range run {
			e := w.entries[n]
			data.WriteByte(1)
			_ = binary.Write(&data, binary.BigEndian, uint32(w.base+e.offset))
			_ = binary.Write(&data, binary.BigEndian, uint16(e.gen))
		}
	}
	at := w.base + w.entries[num].offset
	fmt.Fprintf(&w.buf, "%d 0 obj\n<</Type/XRef/W[1 4 2]/Index[%s]/Length %d%s>>\nstream\n",
		num, strings.TrimSpace(index.String()), data.Len(), d.trailerEntries(size))
	w.buf.Write(data.Bytes())
	fmt.Fprintf(&w.buf, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", at)
}

// pdfDate formats t as a PDF date string, D:YYYYMMDDHHmmSS+HH'mm'.
func pdfDate(t time.Time) string {
	t = t.UTC()
	return "D:" + t.Format("20060102150405") + "+00'00'"
}

// textString encodes s as a PDF text string: a literal for printable
// ASCII, otherwise UTF-16BE with a byte order mark, in hex.
func textString(s string) string {
	ascii := true
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			ascii = false
			break
		}
	}
	if ascii {
		r := strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`)
		return "(" + r.Replace(s) + ")"
	}
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2, 2+2*len(u))
	b[0], b[1] = 0xFE, 0xFF
	for _, c := range u {
		b = binary.BigEndian.AppendUint16(b, c)
	}
	return "<" + hex.EncodeToString(b) + ">"
}
