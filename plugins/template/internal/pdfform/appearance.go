package pdfform

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-pdf/fpdf"
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"github.com/paperflow/paperflow/plugins/template/fonts"
)

// fontRes is the resource name of the font this package adds to a form.
const fontRes = "PFDejaVu"

// drawing is the text a field shows, drawn by this package.
type drawing struct {
	text     string
	setValue bool // also make it the field's value (not for list boxes)
}

// draw sets the value and draws the appearance of each named field, in
// DejaVu Sans.
func draw(ctx *model.Context, values map[string]drawing) error {
	var all strings.Builder
	for name, v := range values {
		v.text = drawable(v.text)
		values[name] = v
		all.WriteString(v.text)
	}
	fontRef, err := dejaVuFont(ctx, all.String())
	if err != nil {
		return err
	}
	return walkFields(ctx, func(name string, fd types.Dict, widgets []types.Dict) error {
		v, ok := values[name]
		if !ok {
			return nil
		}
		if v.setValue {
			fd["V"] = utf16String(v.text)
		}
		for _, w := range widgets {
			if err := setAppearance(ctx, fd, w, v.text, fontRef); err != nil {
				return fmt.Errorf("field %q: %w", name, err)
			}
		}
		delete(values, name)
		return nil
	})
}

// drawable keeps what DejaVu Sans can draw; other characters become
// U+FFFD, control and format characters go (line breaks stay).
func drawable(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteRune(r)
		case r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
		case fonts.Regular.Has(r):
			b.WriteRune(r)
		case unicode.Is(unicode.Mn, r):
		default:
			b.WriteRune(utf8.RuneError)
		}
	}
	return b.String()
}

// dejaVuFont makes DejaVu Sans, cut down to the characters of text, with
// fpdf and copies the font objects into ctx.
func dejaVuFont(ctx *model.Context, text string) (types.IndirectRef, error) {
	face := fonts.Regular
	if face.Covers(text) {
		face = face.Core() // much faster to embed, same glyphs
	}
	pdf := fpdf.New("P", "pt", "A4", "")
	pdf.AddUTF8FontFromBytes("dejavu", "", face.Data)
	pdf.AddPage()
	pdf.SetFont("dejavu", "", 10)
	pdf.Text(10, 10, strings.ReplaceAll(text, "\n", " ")+string(utf8.RuneError))
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return types.IndirectRef{}, fmt.Errorf("make font: %w", err)
	}
	src, err := api.ReadContext(bytes.NewReader(buf.Bytes()), conf())
	if err != nil {
		return types.IndirectRef{}, fmt.Errorf("read font: %w", err)
	}
	if err := src.EnsurePageCount(); err != nil {
		return types.IndirectRef{}, fmt.Errorf("read font: %w", err)
	}
	page, _, _, err := src.PageDict(1, false)
	if err != nil {
		return types.IndirectRef{}, fmt.Errorf("read font: %w", err)
	}
	res, err := src.DereferenceDict(page["Resources"])
	if err != nil || res == nil {
		return types.IndirectRef{}, errors.New("read font: no page resources")
	}
	fontDict, err := src.DereferenceDict(res["Font"])
	if err != nil || len(fontDict) != 1 {
		return types.IndirectRef{}, errors.New("read font: expected one font")
	}
	for _, ref := range fontDict {
		ir, ok := ref.(types.IndirectRef)
		if !ok {
			return types.IndirectRef{}, errors.New("read font: not an indirect object")
		}
		copied, err := copyObject(ctx.XRefTable, src.XRefTable, ir, map[int]types.IndirectRef{})
		if err != nil {
			return types.IndirectRef{}, fmt.Errorf("copy font: %w", err)
		}
		return copied.(types.IndirectRef), nil
	}
	return types.IndirectRef{}, errors.New("read font: none")
}

// copyObject copies o, and everything it refers to, from src into dst.
func copyObject(dst, src *model.XRefTable, o types.Object, done map[int]types.IndirectRef) (types.Object, error) {
	switch x := o.(type) {
	case types.IndirectRef:
		if r, ok := done[x.ObjectNumber.Value()]; ok {
			return r, nil
		}
		obj, err := src.Dereference(x)
		if err != nil {
			return nil, err
		}
		ref, err := dst.IndRefForNewObject(nil)
		if err != nil {
			return nil, err
		}
		done[x.ObjectNumber.Value()] = *ref
		c, err := copyObject(dst, src, obj, done)
		if err != nil {
			return nil, err
		}
		entry, ok := dst.FindTableEntryLight(ref.ObjectNumber.Value())
		if !ok {
			return nil, errors.New("new object vanished")
		}
		entry.Object = c
		return *ref, nil
	case types.Dict:
		d := types.Dict{}
		for k, v := range x {
			c, err := copyObject(dst, src, v, done)
			if err != nil {
				return nil, err
			}
			d[k] = c
		}
		return d, nil
	case types.Array:
		a := make(types.Array, len(x))
		for i, v := range x {
			c, err := copyObject(dst, src, v, done)
			if err != nil {
				return nil, err
			}
			a[i] = c
		}
		return a, nil
	case types.StreamDict:
		d, err := copyObject(dst, src, x.Dict, done)
		if err != nil {
			return nil, err
		}
		sd := x
		sd.Dict = d.(types.Dict)
		sd.Raw = append([]byte(nil), x.Raw...)
		sd.Content = nil
		return sd, nil
	}
	return o, nil
}

// walkFields calls fn for each terminal field of the form with its full
// name, its dictionary and its widgets.
func walkFields(ctx *model.Context, fn func(name string, fd types.Dict, widgets []types.Dict) error) error {
	root, err := ctx.Catalog()
	if err != nil {
		return err
	}
	acro, err := ctx.DereferenceDict(root["AcroForm"])
	if err != nil || acro == nil {
		return errors.New("no AcroForm")
	}
	delete(acro, "NeedAppearances") // the appearances are drawn: viewers must use them
	fields, err := ctx.DereferenceArray(acro["Fields"])
	if err != nil {
		return err
	}
	var walk func(o types.Object, parent string, depth int) error
	walk = func(o types.Object, parent string, depth int) error {
		if depth > 32 {
			return errors.New("form fields nested too deep")
		}
		fd, err := ctx.DereferenceDict(o)
		if err != nil || fd == nil {
			return err
		}
		name := parent
		if t := fd["T"]; t != nil {
			s, err := decodeText(ctx, t)
			if err != nil {
				return err
			}
			if name != "" {
				name += "."
			}
			name += s
		}
		kids, _ := ctx.DereferenceArray(fd["Kids"])
		var widgets []types.Dict
		var childFields []types.Object
		for _, k := range kids {
			kd, err := ctx.DereferenceDict(k)
			if err != nil || kd == nil {
				continue
			}
			if kd["T"] != nil {
				childFields = append(childFields, k)
			} else {
				widgets = append(widgets, kd)
			}
		}
		if len(childFields) > 0 {
			for _, c := range childFields {
				if err := walk(c, name, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		if len(kids) == 0 {
			widgets = []types.Dict{fd}
		}
		return fn(name, fd, widgets)
	}
	for _, f := range fields {
		if err := walk(f, "", 0); err != nil {
			return err
		}
	}
	return nil
}

func decodeText(ctx *model.Context, o types.Object) (string, error) {
	o, err := ctx.Dereference(o)
	if err != nil {
		return "", err
	}
	switch s := o.(type) {
	case types.StringLiteral:
		return types.StringLiteralToString(s)
	case types.HexLiteral:
		return types.HexLiteralToString(s)
	}
	return "", fmt.Errorf("field name is a %T", o)
}

// utf16String encodes s as a PDF text string.
func utf16String(s string) types.HexLiteral {
	b := []byte{0xFE, 0xFF}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return types.HexLiteral(strings.ToUpper(hex.EncodeToString(b)))
}

var daSize = regexp.MustCompile(`([0-9.]+)\s+Tf`)

// setAppearance gives widget w a normal appearance showing v.
func setAppearance(ctx *model.Context, fd, w types.Dict, v string, font types.IndirectRef) error {
	rectArr, err := ctx.DereferenceArray(w["Rect"])
	if err != nil || len(rectArr) != 4 {
		return errors.New("widget without a rectangle")
	}
	rect, err := ctx.RectForArray(rectArr)
	if err != nil {
		return err
	}
	width, height := rect.Width(), rect.Height()
	da := ""
	for _, d := range []types.Dict{w, fd} {
		if s := d.StringEntry("DA"); s != nil {
			da = *s
			break
		}
	}
	size := 0.0
	if m := daSize.FindStringSubmatch(da); m != nil {
		size, _ = strconv.ParseFloat(m[1], 64)
	}
	multiline := false
	if ff := fd.IntEntry("Ff"); ff != nil && *ff&(1<<12) != 0 {
		multiline = true
	}
	if size <= 0 {
		size = min(12, max(4, (height-4)*0.7))
		if multiline {
			size = 10
		}
	}
	align := 0
	if q := fd.IntEntry("Q"); q != nil {
		align = *q
	}
	lines := []string{strings.ReplaceAll(v, "\n", " ")}
	if multiline {
		lines = wrap(v, width-4, size)
	}
	var c bytes.Buffer
	c.WriteString(frame(ctx, w, width, height))
	fmt.Fprintf(&c, "/Tx BMC q 1 1 %.2f %.2f re W n BT /%s %.2f Tf 0 g ", width-2, height-2, fontRes, size)
	lead := size * 1.15
	y := (height-size*1.17)/2 + size*0.24
	if multiline {
		y = height - 2 - size*0.93
	}
	for i, l := range lines {
		lw := textWidth(l, size)
		x := 2.0
		switch align {
		case 1:
			x = (width - lw) / 2
		case 2:
			x = width - 2 - lw
		}
		fmt.Fprintf(&c, "1 0 0 1 %.2f %.2f Tm <%s> Tj ", x, y-float64(i)*lead, cids(l))
	}
	c.WriteString("ET Q EMC")
	sd, err := ctx.NewStreamDictForBuf(c.Bytes())
	if err != nil {
		return err
	}
	sd.InsertName("Type", "XObject")
	sd.InsertName("Subtype", "Form")
	sd.Insert("BBox", types.NewNumberArray(0, 0, width, height))
	sd.Insert("Resources", types.Dict{"Font": types.Dict{fontRes: font}})
	if err := sd.Encode(); err != nil {
		return err
	}
	ref, err := ctx.IndRefForNewObject(*sd)
	if err != nil {
		return err
	}
	w["AP"] = types.Dict{"N": *ref}
	return nil
}

// frame draws the widget's background and border as its /MK asks.
func frame(ctx *model.Context, w types.Dict, width, height float64) string {
	mk, err := ctx.DereferenceDict(w["MK"])
	if err != nil || mk == nil {
		return ""
	}
	color := func(key string) (string, bool) {
		arr, err := ctx.DereferenceArray(mk[key])
		if err != nil {
			return "", false
		}
		var n []string
		for _, o := range arr {
			switch v := o.(type) {
			case types.Float:
				n = append(n, strconv.FormatFloat(float64(v), 'f', 3, 64))
			case types.Integer:
				n = append(n, strconv.Itoa(int(v)))
			}
		}
		switch len(n) {
		case 1:
			return n[0] + " g " + n[0] + " G", true
		case 3:
			s := strings.Join(n, " ")
			return s + " rg " + s + " RG", true
		}
		return "", false
	}
	var b strings.Builder
	if bg, ok := color("BG"); ok {
		fmt.Fprintf(&b, "q %s 0 0 %.2f %.2f re f Q ", bg, width, height)
	}
	if bc, ok := color("BC"); ok {
		fmt.Fprintf(&b, "q %s 1 w 0.5 0.5 %.2f %.2f re S Q ", bc, width-1, height-1)
	}
	return b.String()
}

// cids is the hex string that shows s in the fpdf-made font, whose codes
// are the characters' UTF-16 units.
func cids(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%04X", u)
	}
	return b.String()
}

func textWidth(s string, size float64) float64 {
	w := 0
	for _, r := range s {
		w += fonts.Regular.Width(r)
	}
	return float64(w) * size / 1000
}

// wrap breaks text into lines of at most width points.
func wrap(text string, width, size float64) []string {
	var out []string
	for _, para := range strings.Split(text, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			try := word
			if line != "" {
				try = line + " " + word
			}
			if line != "" && textWidth(try, size) > width {
				out = append(out, line)
				try = word
			}
			line = try
		}
		out = append(out, line)
	}
	return out
}
