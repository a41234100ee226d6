// Package pdfform fills the fields of a PDF form (AcroForm) by name: text
// and date fields, checkboxes, radio button groups, combo boxes and list
// boxes, and optionally flattens the result (the values become part of the
// page and the fields go).
//
// Reading and writing the PDF is pdfcpu's, and so is filling checkboxes,
// radio buttons and list boxes. Text fields and combo boxes get their
// values and appearances from this package, set in the embedded DejaVu
// font (any script, not only the Latin-1 of the standard fonts), cut down
// to the characters needed once per set of glyphs (package pdfwrite).
package pdfform

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/form"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

func init() {
	// pdfcpu would otherwise create a configuration directory in the
	// user's home on first use; this package needs none.
	model.ConfigPath = "disable"
}

// Kind is the type of a form field.
type Kind int

const (
	Text Kind = iota + 1
	Date
	CheckBox
	Radio
	Combo
	List
)

func (k Kind) String() string {
	return [...]string{"", "text field", "date field", "checkbox", "radio button group", "combo box", "list box"}[k]
}

// field is one field of the form.
type field struct {
	name     string
	kind     Kind
	options  []string
	editable bool // a combo box that takes any text
	multi    bool // a list box with several selections
}

// Form is a parsed PDF form; safe for concurrent use.
type Form struct {
	data   []byte
	fields map[string]*field
	fold   map[string]*field // by lower-case name
	names  []string
}

func conf() *model.Configuration {
	c := model.NewDefaultConfiguration()
	c.ValidationMode = model.ValidationRelaxed
	return c
}

// Open reads a PDF and its form fields.
func Open(data []byte) (f *Form, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("not a readable PDF: %v", p)
		}
	}()
	fg, err := api.ExportForm(bytes.NewReader(data), "template", conf())
	if err != nil {
		return nil, fmt.Errorf("not a readable PDF form: %w", unwrapAll(err))
	}
	f = &Form{data: data, fields: map[string]*field{}, fold: map[string]*field{}}
	add := func(fl *field) {
		if fl.name == "" {
			return
		}
		if _, dup := f.fields[fl.name]; dup {
			return
		}
		f.fields[fl.name] = fl
		if _, ok := f.fold[strings.ToLower(fl.name)]; !ok {
			f.fold[strings.ToLower(fl.name)] = fl
		}
		f.names = append(f.names, fl.name)
	}
	for _, frm := range fg.Forms {
		for _, x := range frm.TextFields {
			add(&field{name: x.Name, kind: Text})
		}
		for _, x := range frm.DateFields {
			add(&field{name: x.Name, kind: Date})
		}
		for _, x := range frm.CheckBoxes {
			add(&field{name: x.Name, kind: CheckBox})
		}
		for _, x := range frm.RadioButtonGroups {
			add(&field{name: x.Name, kind: Radio, options: x.Options})
		}
		for _, x := range frm.ComboBoxes {
			add(&field{name: x.Name, kind: Combo, options: x.Options, editable: x.Editable})
		}
		for _, x := range frm.ListBoxes {
			add(&field{name: x.Name, kind: List, options: x.Options, multi: x.Multi})
		}
	}
	if len(f.names) == 0 {
		return nil, errors.New("the PDF has no form fields to fill")
	}
	sort.Strings(f.names)
	return f, nil
}

// unwrapAll shortens pdfcpu's chains of wrapped errors to the innermost.
func unwrapAll(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// Names lists the form's field names, sorted.
func (f *Form) Names() []string { return append([]string(nil), f.names...) }

// Field returns the form's name for a field, matched exactly or else
// ignoring case.
func (f *Form) Field(name string) (string, bool) {
	if fl, ok := f.fields[name]; ok {
		return fl.name, true
	}
	if fl, ok := f.fold[strings.ToLower(name)]; ok {
		return fl.name, true
	}
	return "", false
}

// Fill sets the fields named in values and returns the new PDF. A checkbox
// is checked by a true value (as in {{#if}}: not empty, false, 0 or no); a
// radio group, a fixed combo box and a list box take one of their options
// (a list box with several selections takes them separated by commas or
// as a JSON array).
func (f *Form) Fill(values map[string]string, flatten bool) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("fill form: %v", p)
		}
	}()
	var fill form.Form
	// drawn are the fields whose appearance this package draws: text
	// fields and combo boxes, in DejaVu Sans (any script, and no
	// compressor per field as pdfcpu makes), and list boxes when
	// flattening (pdfcpu leaves those to the viewer, and a flattened form
	// has no viewer to do it). pdfcpu fills the buttons and list boxes.
	drawn := map[string]drawing{}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fl, ok := f.fields[name]
		if !ok {
			canonical, found := f.Field(name)
			if !found {
				return nil, fmt.Errorf("the form has no field %q", name)
			}
			fl = f.fields[canonical]
		}
		v := clean(values[name])
		switch fl.kind {
		case Text, Date:
			drawn[fl.name] = drawing{text: v, setValue: true}
		case CheckBox:
			fill.CheckBoxes = append(fill.CheckBoxes, &form.CheckBox{Name: fl.name, Value: tags.Truthy(v)})
		case Radio:
			opt, err := fl.option(v)
			if err != nil {
				return nil, err
			}
			fill.RadioButtonGroups = append(fill.RadioButtonGroups, &form.RadioButtonGroup{Name: fl.name, Value: opt})
		case Combo:
			opt := v
			if !fl.editable || v == "" {
				if opt, err = fl.option(v); err != nil {
					return nil, err
				}
			}
			drawn[fl.name] = drawing{text: opt, setValue: true}
		case List:
			opts, err := fl.selection(v)
			if err != nil {
				return nil, err
			}
			fill.ListBoxes = append(fill.ListBoxes, &form.ListBox{Name: fl.name, Values: opts})
			if flatten {
				drawn[fl.name] = drawing{text: strings.Join(opts, ", ")}
			}
		}
	}
	c := conf()
	c.Cmd = model.FILLFORMFIELDS
	// Objects are written as they are, without object and cross-reference
	// streams: these would take a compressor for each document.
	c.WriteObjectStream, c.WriteXRefStream = false, false
	pdfcpuFills := len(fill.CheckBoxes)+len(fill.RadioButtonGroups)+len(fill.ListBoxes) > 0
	var ctx *model.Context
	if pdfcpuFills || flatten {
		ctx, err = api.ReadValidateAndOptimize(bytes.NewReader(f.data), c)
	} else {
		// Open validated these bytes already; this package's own drawing
		// needs them parsed only.
		ctx, err = api.ReadContext(bytes.NewReader(f.data), c)
	}
	if err != nil {
		return nil, fmt.Errorf("read form: %w", unwrapAll(err))
	}
	ctx.RemoveSignature()
	if pdfcpuFills {
		if _, _, err := form.FillForm(ctx, form.FillDetails(&fill, nil), nil, form.JSON); err != nil {
			return nil, fmt.Errorf("fill form: %w", unwrapAll(err))
		}
	}
	if len(drawn) > 0 {
		if err := draw(ctx, drawn); err != nil {
			return nil, fmt.Errorf("fill form: %w", err)
		}
	}
	if flatten {
		if err := flattenForm(ctx); err != nil {
			return nil, fmt.Errorf("flatten form: %w", err)
		}
	}
	var buf bytes.Buffer
	buf.Grow(len(f.data) + 8<<10)
	if err := api.WriteContext(ctx, &buf); err != nil {
		return nil, fmt.Errorf("write form: %w", unwrapAll(err))
	}
	return buf.Bytes(), nil
}

// option matches v to one of the field's options, exactly or else
// ignoring case; "" is no choice.
func (fl *field) option(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	for _, o := range fl.options {
		if o == v {
			return o, nil
		}
	}
	for _, o := range fl.options {
		if strings.EqualFold(o, v) {
			return o, nil
		}
	}
	return "", fmt.Errorf("form field %q (%s) has no option %q; its options are %s", fl.name, fl.kind, v, quote(fl.options))
}

func (fl *field) selection(v string) ([]string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	var parts []string
	if strings.HasPrefix(v, "[") {
		for _, p := range strings.Split(strings.Trim(v, "[]"), ",") {
			parts = append(parts, strings.Trim(strings.TrimSpace(p), `"`))
		}
	} else if fl.multi {
		for _, p := range strings.Split(v, ",") {
			parts = append(parts, strings.TrimSpace(p))
		}
	} else {
		parts = []string{v}
	}
	if len(parts) > 1 && !fl.multi {
		return nil, fmt.Errorf("form field %q (%s) takes one option, not %d", fl.name, fl.kind, len(parts))
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		o, err := fl.option(p)
		if err != nil {
			return nil, err
		}
		if beyondLatin1(o) {
			return nil, fmt.Errorf("form field %q (%s): option %q has characters beyond Latin-1, which list boxes cannot show yet", fl.name, fl.kind, o)
		}
		out = append(out, o)
	}
	return out, nil
}

func quote(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// clean drops control and format characters (bidi overrides, NUL) from a
// value; line breaks stay for multi-line fields.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
}

// beyondLatin1 reports text the standard PDF fonts cannot show.
func beyondLatin1(s string) bool {
	for _, r := range s {
		if r > 0xFF {
			return true
		}
	}
	return false
}
