package form

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/paperflow/paperflow/host/workflow"
)

// formPage is what the form template shows.
type formPage struct {
	Title, Nonce, Description, Submit string
	CSRF, Submission                  string
	Fields                            []fieldView
	// Error is a problem of the whole submission; Problems counts the
	// fields with one.
	Error    string
	Problems []problemLink
	MaxMB    int
}

type problemLink struct{ ID, Label, Message string }

// fieldView is one field as the template draws it.
type fieldView struct {
	ID, Name, Label, Help, Error string
	// Kind picks the control: input, textarea, select, checkbox, file.
	Kind, InputType, Value   string
	Required, Checked, Focus bool
	Min, Max, Step, Accept   string
	Autocomplete, InputMode  string
	MaxLength                int
	Options                  []option
	DescribedBy              string
}

type option struct {
	Value    string
	Selected bool
}

type thanksPage struct{ Title, Nonce, Thanks string }

type messagePage struct{ Title, Nonce, Heading, Line string }

// render draws wf's form with c's values kept and its problems beside
// their fields.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, wf *workflow.Workflow, c checked, formError string) {
	f := wf.On.Form
	comp := h.compiled(f)
	p := &formPage{
		Title: title(wf), Description: f.Description, Submit: f.Submit, CSRF: h.csrf().token(w, r),
		Submission: newSubmission(), Error: formError, MaxMB: MaxUpload >> 20,
	}
	if p.Submit == "" {
		p.Submit = "Send"
	}
	focused := false
	for i, fld := range f.Fields {
		v := fieldView{
			ID: "field-" + strconv.Itoa(i), Name: fld.Name, Label: fld.Label, Help: fld.Description,
			Required: fld.Required, Error: c.problems[fld.Name], MaxLength: fld.MaxLength,
		}
		if v.Error != "" {
			p.Problems = append(p.Problems, problemLink{ID: v.ID, Label: fld.Label, Message: v.Error})
			if !focused {
				v.Focus, focused = true, true
			}
		}
		value := c.values[fld.Name]
		if s, ok := value.(string); ok {
			v.Value = s
		} else if value != nil {
			v.Value = fmt.Sprint(value)
		}
		describe(&v, fld, comp.accept[fld.Name], value)
		if v.Help != "" {
			v.DescribedBy = v.ID + "-help"
		}
		if v.Error != "" {
			v.DescribedBy = strings.TrimSpace(v.DescribedBy + " " + v.ID + "-error")
		}
		p.Fields = append(p.Fields, v)
	}
	h.renderPage(w, status, "form", p)
}

// describe sets the control of a field from its type.
func describe(v *fieldView, fld workflow.FormField, accept string, value any) {
	v.Kind, v.InputType = "input", "text"
	switch fld.Type {
	case workflow.FieldEmail:
		v.InputType, v.Autocomplete, v.InputMode = "email", "email", "email"
	case workflow.FieldDate:
		v.InputType = "date"
	case workflow.FieldNumber, workflow.FieldInteger:
		v.InputType, v.Step, v.InputMode = "number", "any", "decimal"
		if fld.Type == workflow.FieldInteger {
			v.Step, v.InputMode = "1", "numeric"
		}
		if fld.Minimum != nil {
			v.Min = strconv.FormatFloat(*fld.Minimum, 'f', -1, 64)
		}
		if fld.Maximum != nil {
			v.Max = strconv.FormatFloat(*fld.Maximum, 'f', -1, 64)
		}
	case workflow.FieldText:
		v.Kind = "textarea"
	case workflow.FieldEnum:
		v.Kind = "select"
		for _, e := range fld.Enum {
			v.Options = append(v.Options, option{Value: e, Selected: e == v.Value})
		}
	case workflow.FieldBoolean:
		v.Kind = "checkbox"
		v.Checked, _ = value.(bool)
	case workflow.FieldFile:
		v.Kind, v.Accept, v.Value = "file", accept, ""
	}
}

// renderPage writes a page with a Content-Security-Policy that lets only
// its own inline style run (by nonce), posts only to this origin, and is
// never framed: the headers of the signing pages.
func (h *Handler) renderPage(w http.ResponseWriter, status int, name string, data any) {
	nonce := newSubmission()
	switch d := data.(type) {
	case *formPage:
		d.Nonce = nonce
	case *thanksPage:
		d.Nonce = nonce
	case *messagePage:
		d.Nonce = nonce
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		h.log().Error("form page", "page", name, "err", err)
		http.Error(w, "page error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+"'; "+
		"img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (h *Handler) message(w http.ResponseWriter, status int, heading, line string) {
	h.renderPage(w, status, "message", &messagePage{Title: heading, Heading: heading, Line: line})
}
