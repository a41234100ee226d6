package form

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/paperflow/paperflow/host/workflow"
)

// MaxUpload bounds one submission's body, its files included.
const MaxUpload = 10 << 20

// Bounds of a text value whose schema gives no maxLength.
const (
	defaultMaxString = 500
	defaultMaxText   = 20000
)

// errTooLarge is a submission over MaxUpload.
var errTooLarge = fmt.Errorf("the files are too large: a submission may hold at most %d MB in all", MaxUpload>>20)

// upload is a file as posted, stored only once the submission is valid.
type upload struct {
	name, mimetype string
	data           []byte
}

// posted is what a browser sent.
type posted struct {
	values map[string][]string
	files  map[string]upload
}

func (p posted) value(name string) string {
	if vs := p.values[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// readPost reads a multipart or urlencoded form body of at most MaxUpload
// bytes. Over the limit it returns errTooLarge with what it read so far,
// so the page keeps the values typed before the files.
func readPost(w http.ResponseWriter, r *http.Request) (posted, error) {
	p := posted{values: map[string][]string{}, files: map[string]upload{}}
	r.Body = http.MaxBytesReader(w, r.Body, MaxUpload)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		if err := r.ParseForm(); err != nil {
			return p, tooLarge(err)
		}
		for k, v := range r.PostForm {
			p.values[k] = v
		}
		return p, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return p, fmt.Errorf("read the form: %w", err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return p, tooLarge(err)
		}
		if err := p.add(part); err != nil {
			return p, err
		}
	}
}

func (p posted) add(part *multipart.Part) error {
	name := part.FormName()
	data, err := io.ReadAll(part)
	if err != nil {
		return tooLarge(err)
	}
	if part.FileName() == "" {
		p.values[name] = append(p.values[name], string(data))
		return nil
	}
	if len(data) == 0 {
		return nil // a file input left empty
	}
	mt := part.Header.Get("Content-Type")
	if mt == "" || strings.HasPrefix(mt, "application/octet-stream") {
		mt = http.DetectContentType(data)
	}
	p.files[name] = upload{name: path.Base(strings.ReplaceAll(part.FileName(), `\`, "/")), mimetype: mt, data: data}
	return nil
}

func tooLarge(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge
	}
	return fmt.Errorf("read the form: %w", err)
}

// checked is a submission read against the form's fields: the item's
// values by field name (files not yet stored), and a message per field
// that is wrong.
type checked struct {
	values   map[string]any
	problems map[string]string
}

// check reads every field of f from p. Every field is in the item, so
// that a tag naming one never fails: an empty field as "" (a boolean as
// false), a file as "" until it is stored.
func check(f *workflow.FormTrigger, p posted, accept map[string]string) checked {
	c := checked{values: map[string]any{}, problems: map[string]string{}}
	for _, fld := range f.Fields {
		v, problem := checkField(fld, p, accept[fld.Name])
		c.values[fld.Name] = v
		if problem != "" {
			c.problems[fld.Name] = problem
		}
	}
	return c
}

func checkField(f workflow.FormField, p posted, accept string) (any, string) {
	if f.Type == workflow.FieldFile {
		up, ok := p.files[f.Name]
		switch {
		case !ok && f.Required:
			return "", "Choose a file."
		case ok && accept != "" && !accepts(accept, up.name, up.mimetype):
			return "", fmt.Sprintf("This file is not of an accepted type (%s).", accept)
		}
		return "", ""
	}
	if f.Type == workflow.FieldBoolean {
		on := p.value(f.Name) != ""
		if f.Required && !on {
			return false, "Check this box to go on."
		}
		return on, ""
	}
	raw := p.value(f.Name)
	v := strings.TrimSpace(raw)
	if f.Type == workflow.FieldText {
		v = strings.TrimRight(raw, " \t\r\n")
	}
	if v == "" {
		if f.Required {
			return "", "Fill in this field."
		}
		return "", ""
	}
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return raw, "This value holds characters that cannot be read."
	}
	limit := f.MaxLength
	if limit <= 0 {
		limit = defaultMaxString
		if f.Type == workflow.FieldText {
			limit = defaultMaxText
		}
	}
	if n := utf8.RuneCountInString(v); n > limit {
		return raw, fmt.Sprintf("At most %d characters (this is %d).", limit, n)
	}
	if f.Type != workflow.FieldText && strings.ContainsAny(v, "\r\n") {
		return raw, "Write this on one line."
	}
	switch f.Type {
	case workflow.FieldEmail:
		a, err := mail.ParseAddress(v)
		if err != nil || a.Address != v || !strings.Contains(v[strings.LastIndexByte(v, '@')+1:], ".") {
			return raw, "Enter an email address, like name@example.com."
		}
	case workflow.FieldDate:
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return raw, "Enter a date as YYYY-MM-DD."
		}
	case workflow.FieldEnum:
		for _, e := range f.Enum {
			if e == v {
				return v, ""
			}
		}
		return raw, "Choose one of the options."
	case workflow.FieldNumber, workflow.FieldInteger:
		return checkNumber(f, v)
	}
	return v, ""
}

func checkNumber(f workflow.FormField, v string) (any, string) {
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return v, "Enter a number."
	}
	var out any = n
	if f.Type == workflow.FieldInteger {
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return v, "Enter a whole number."
		}
		out = int64(n)
	}
	switch {
	case f.Minimum != nil && n < *f.Minimum:
		return v, "At least " + strconv.FormatFloat(*f.Minimum, 'f', -1, 64) + "."
	case f.Maximum != nil && n > *f.Maximum:
		return v, "At most " + strconv.FormatFloat(*f.Maximum, 'f', -1, 64) + "."
	}
	return out, ""
}

// accepts says whether a file matches an accept list as the file input
// has it: extensions (.pdf), media types (application/pdf) and wildcards
// (image/*).
func accepts(accept, name, mimetype string) bool {
	mt, _, _ := mime.ParseMediaType(mimetype)
	for _, a := range strings.Split(accept, ",") {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == "":
		case strings.HasPrefix(a, "."):
			if strings.HasSuffix(strings.ToLower(name), a) {
				return true
			}
		case strings.HasSuffix(a, "/*"):
			if strings.HasPrefix(mt, strings.TrimSuffix(a, "*")) {
				return true
			}
		case a == mt:
			return true
		}
	}
	return false
}

// schemaProblems validates the values against the form's own JSON Schema,
// for the keywords the fields do not check themselves (pattern,
// minLength, ...). Empty values are left out, files stand as their names,
// and each problem goes to its field when it has one.
func schemaProblems(sch *jsonschema.Schema, f *workflow.FormTrigger, c checked, p posted) {
	if sch == nil {
		return
	}
	doc := map[string]any{}
	for _, fld := range f.Fields {
		v := c.values[fld.Name]
		switch {
		case fld.Type == workflow.FieldFile:
			if up, ok := p.files[fld.Name]; ok {
				doc[fld.Name] = up.name
			}
		case v == "":
		default:
			doc[fld.Name] = v
		}
	}
	raw, _ := json.Marshal(doc)
	var inst any
	_ = json.Unmarshal(raw, &inst)
	err := sch.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return
	}
	for _, e := range workflow.SchemaLeaves(ve) {
		if strings.HasSuffix(e.KeywordLocation, "/required") {
			continue // each field checks its own
		}
		name := strings.TrimPrefix(e.InstanceLocation, "/")
		name, _, _ = strings.Cut(name, "/")
		name = strings.ReplaceAll(strings.ReplaceAll(name, "~1", "/"), "~0", "~")
		if _, ok := c.problems[name]; ok || name == "" {
			if name == "" {
				c.problems[""] = "The answers do not fit the form: " + e.Message + "."
			}
			continue
		}
		c.problems[name] = capitalize(e.Message) + "."
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(r)) + s[n:]
}
