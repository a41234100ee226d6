package pdfform

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"github.com/paperflow/paperflow/plugins/template/fonts"
	"github.com/paperflow/paperflow/plugins/template/internal/pdfwrite"
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
			// As pdfcpu writes values, so that its readers find them.
			s, err := types.EscapedUTF16String(v.text)
			if err != nil {
				return fmt.Errorf("field %q: %w", name, err)
			}
			fd["V"] = types.StringLiteral(*s)
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

// dejaVuFont adds DejaVu Sans, cut down to the characters of text, to
// ctx. The subset is made once per set of glyphs (package pdfwrite) and
// only its objects are made here.
func dejaVuFont(ctx *model.Context, text string) (types.IndirectRef, error) {
	face := fonts.Regular
	f, err := pdfwrite.Embed(face, text+string(utf8.RuneError))
	if err != nil {
		return types.IndirectRef{}, fmt.Errorf("make font: %w", err)
	}
	stream := func(d types.Dict, data []byte) (types.IndirectRef, error) {
		d.InsertName("Filter", "FlateDecode")
		n := int64(len(data))
		d.Insert("Length", types.Integer(n))
		sd := types.StreamDict{Dict: d, Raw: data, StreamLength: &n, FilterPipeline: []types.PDFFilter{{Name: "FlateDecode"}}}
		ref, err := ctx.IndRefForNewObject(sd)
		if err != nil {
			return types.IndirectRef{}, err
		}
		return *ref, nil
	}
	program, err := stream(types.Dict{"Length1": types.Integer(f.Length1)}, f.Program)
	if err != nil {
		return types.IndirectRef{}, err
	}
	toUnicode, err := stream(types.Dict{}, f.ToUnicode)
	if err != nil {
		return types.IndirectRef{}, err
	}
	m := f.Metrics
	desc, err := ctx.IndRefForNewObject(types.Dict{
		"Type": types.Name("FontDescriptor"), "FontName": types.Name(f.Name), "Flags": types.Integer(4),
		"FontBBox":    types.NewIntegerArray(m.BBox[0], m.BBox[1], m.BBox[2], m.BBox[3]),
		"ItalicAngle": types.Float(m.ItalicAngle), "Ascent": types.Integer(m.Ascent), "Descent": types.Integer(m.Descent),
		"CapHeight": types.Integer(m.CapHeight), "StemV": types.Integer(80), "FontFile2": program,
	})
	if err != nil {
		return types.IndirectRef{}, err
	}
	var w types.Array
	for i := 0; i < len(f.Glyphs); {
		j := i
		for j+1 < len(f.Glyphs) && f.Glyphs[j+1] == f.Glyphs[j]+1 {
			j++
		}
		var run types.Array
		for _, g := range f.Glyphs[i : j+1] {
			run = append(run, types.Integer(face.GlyphWidth(g)))
		}
		w = append(w, types.Integer(f.Glyphs[i]), run)
		i = j + 1
	}
	cid, err := ctx.IndRefForNewObject(types.Dict{
		"Type": types.Name("Font"), "Subtype": types.Name("CIDFontType2"), "BaseFont": types.Name(f.Name),
		"CIDSystemInfo":  types.Dict{"Registry": types.StringLiteral("Adobe"), "Ordering": types.StringLiteral("Identity"), "Supplement": types.Integer(0)},
		"CIDToGIDMap":    types.Name("Identity"),
		"FontDescriptor": *desc, "W": w,
	})
	if err != nil {
		return types.IndirectRef{}, err
	}
	font, err := ctx.IndRefForNewObject(types.Dict{
		"Type": types.Name("Font"), "Subtype": types.Name("Type0"), "BaseFont": types.Name(f.Name),
		"Encoding": types.Name("Identity-H"), "DescendantFonts": types.Array{*cid}, "ToUnicode": toUnicode,
	})
	if err != nil {
		return types.IndirectRef{}, err
	}
	return *font, nil
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
		fmt.Fprintf(&c, "1 0 0 1 %.2f %.2f Tm <%s> Tj ", x, y-float64(i)*lead, pdfwrite.Glyphs(nil, fonts.Regular, l))
	}
	c.WriteString("ET Q EMC")
	// A few hundred bytes: not worth a compressor.
	sd := &types.StreamDict{Dict: types.Dict{}, Content: c.Bytes()}
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
