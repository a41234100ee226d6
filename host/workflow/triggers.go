package workflow

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/paperflow/paperflow/plugins/sdk/suggest"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// Trigger kinds, as written under on:.
const (
	TriggerManual   = "manual"
	TriggerHTTP     = "http"
	TriggerForm     = "form"
	TriggerSchedule = "schedule"
)

// Triggers say what starts a workflow's items (on: in the file). A file
// without on: is started by hand only, as before triggers existed.
type Triggers struct {
	// Manual: `paperflow run` and POST /api/runs read the source.
	Manual bool
	// HTTP, when set, takes items at POST /api/workflows/<name>/items.
	HTTP *HTTPTrigger
	// Form, when set, serves a public page at /forms/<name>.
	Form *FormTrigger
	// Schedules read the source at the times of their cron expressions.
	Schedules []Schedule
}

// Kinds lists the triggers set, in a fixed order, for records and listings.
func (t Triggers) Kinds() []string {
	var out []string
	if t.Manual {
		out = append(out, TriggerManual)
	}
	if t.HTTP != nil {
		out = append(out, TriggerHTTP)
	}
	if t.Form != nil {
		out = append(out, TriggerForm)
	}
	if len(t.Schedules) > 0 {
		out = append(out, TriggerSchedule)
	}
	return out
}

// HTTPTrigger is on: {http: ...}.
type HTTPTrigger struct {
	// Secret, when set, lets a caller without the API token post items
	// signed as webhooks are (X-Webhook-Signature: t=,v1=). It usually
	// names a secret: "{{ .secrets.NAME }}"; SecretValue resolves it.
	Secret string
	secret *tags.Template
}

// SecretValue resolves Secret with the host's secrets; "" when unset.
func (h *HTTPTrigger) SecretValue(s Secrets) (string, error) {
	if h == nil || h.Secret == "" {
		return "", nil
	}
	if h.secret == nil {
		return h.Secret, nil
	}
	return h.secret.Render(tags.Scope{Secrets: s.Lookup})
}

// FormTrigger is on: {form: ...}: a public page made from a JSON Schema.
type FormTrigger struct {
	Title       string
	Description string
	Submit      string // the button's label
	Thanks      string // shown after a submission
	// Schema is the form's JSON Schema as written (an object schema).
	Schema json.RawMessage
	// Fields are the schema's properties in the order of the file.
	Fields []FormField
}

// Form field types, from a property's type, format and enum.
const (
	FieldString  = "string"
	FieldText    = "text" // a string with format: textarea or maxLength over 200
	FieldEmail   = "email"
	FieldNumber  = "number"
	FieldInteger = "integer"
	FieldBoolean = "boolean"
	FieldEnum    = "enum"
	FieldDate    = "date"
	FieldFile    = "file"
)

// FormField is one property of a form's schema.
type FormField struct {
	Name        string
	Label       string // title, or the name
	Description string
	Type        string // one of the Field* constants
	Required    bool
	Enum        []string
	MaxLength   int      // 0: the form's default bound
	Minimum     *float64 // number and integer
	Maximum     *float64
}

// Schedule is one entry of on: {schedule: ...}.
type Schedule struct {
	Cron     string
	TimeZone string // IANA name; "" is UTC
	// Missed is what a host does at start for firings missed while no
	// host ran: "skip" (the default) or "once" (fire one of them now).
	Missed   string
	Location *time.Location
	Spec     cron.Schedule
	Line     int
	Col      int
}

// Missed firing policies.
const (
	MissedSkip = "skip"
	MissedOnce = "once"
)

// CronParser reads cron expressions of five fields, or six with seconds
// first, and descriptors such as @hourly.
var CronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// triggers reads on: (its shape is checked by the workflow schema) and
// checks what the schema cannot: cron expressions, time zones, the form's
// schema, and that a workflow that reads its source has one.
func (l *loader) triggers(m map[string]any, w *Workflow) {
	t := Triggers{}
	switch on := m["on"].(type) {
	case nil:
		t.Manual = true
	case string:
		l.triggerName(&t, on, "/on")
	case []any:
		for i, k := range on {
			if s, ok := k.(string); ok {
				l.triggerName(&t, s, ptrJoin("/on", strconv.Itoa(i)))
			}
		}
	case map[string]any:
		for _, k := range l.keysInOrder(on, "/on") {
			if off, ok := on[k].(bool); ok && !off {
				continue
			}
			l.triggerKind(&t, k, ptrJoin("/on", k), on[k])
		}
	}
	w.On = t
	if _, ok := m["source"]; !ok && m != nil && (t.Manual || len(t.Schedules) > 0) {
		what := "it is started by hand (on: manual, the default)"
		if !t.Manual {
			what = "a schedule reads its source"
		}
		l.addAt("", false, fmt.Sprintf("missing required key \"source\": %s; add source: {uses: ..., with: ...}, or list only http and form under on:", what))
	}
}

// keysInOrder returns a map's keys in the order of the file.
func (l *loader) keysInOrder(m map[string]any, ptr string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		li, ci := l.pos(ptrJoin(ptr, keys[i]), true)
		lj, cj := l.pos(ptrJoin(ptr, keys[j]), true)
		if li != lj {
			return li < lj
		}
		if ci != cj {
			return ci < cj
		}
		return keys[i] < keys[j]
	})
	return keys
}

// triggerName reads a trigger named without settings (on: http).
func (l *loader) triggerName(t *Triggers, name, ptr string) {
	switch name {
	case TriggerManual, TriggerHTTP:
		l.triggerKind(t, name, ptr, nil)
	case TriggerForm:
		l.prob(ptr, false, "a form needs its fields: write on: as a map, on: {form: {schema: {type: object, properties: {...}}}}")
	case TriggerSchedule:
		l.prob(ptr, false, "a schedule needs its times: write on: as a map, on: {schedule: {cron: \"0 9 * * MON-FRI\"}}")
	default:
		kinds := []string{TriggerManual, TriggerHTTP, TriggerForm, TriggerSchedule}
		l.prob(ptr, false, "unknown trigger %q%s: triggers are %s", name, suggest.DidYouMean(name, kinds), strings.Join(kinds, ", "))
	}
}

func (l *loader) triggerKind(t *Triggers, kind, ptr string, v any) {
	if l.flagged[ptr] {
		return
	}
	switch kind {
	case TriggerManual:
		t.Manual = true
	case TriggerHTTP:
		h := &HTTPTrigger{}
		if cfg, ok := v.(map[string]any); ok {
			h.Secret, _ = cfg["secret"].(string)
			if tags.HasTags(h.Secret) {
				h.secret = l.template(h.Secret, ptr+"/secret", -1, blockOrder{})
			}
		}
		t.HTTP = h
	case TriggerForm:
		cfg, _ := v.(map[string]any)
		t.Form = l.form(cfg, ptr)
	case TriggerSchedule:
		switch s := v.(type) {
		case map[string]any:
			t.Schedules = append(t.Schedules, l.schedule(s, ptr))
		case []any:
			for i, e := range s {
				if sm, ok := e.(map[string]any); ok {
					t.Schedules = append(t.Schedules, l.schedule(sm, ptrJoin(ptr, strconv.Itoa(i))))
				}
			}
		case nil:
			l.prob(ptr, true, "a schedule needs a cron expression: schedule: {cron: \"0 9 * * MON-FRI\", timezone: Europe/Berlin}")
		}
	}
}

func (l *loader) schedule(m map[string]any, ptr string) Schedule {
	s := Schedule{Missed: MissedSkip}
	s.Cron, _ = m["cron"].(string)
	s.TimeZone, _ = m["timezone"].(string)
	if missed, ok := m["missed"].(string); ok {
		s.Missed = missed
	}
	s.Line, s.Col = l.pos(ptr, false)
	s.Location = time.UTC
	if s.TimeZone != "" {
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			l.prob(ptr+"/timezone", false, "unknown time zone %q: use an IANA name such as Europe/Berlin or America/New_York, or UTC", s.TimeZone)
		} else {
			s.Location = loc
		}
	}
	if s.Cron != "" && !l.flagged[ptr+"/cron"] {
		if strings.HasPrefix(strings.TrimSpace(s.Cron), "TZ=") || strings.HasPrefix(strings.TrimSpace(s.Cron), "CRON_TZ=") {
			l.prob(ptr+"/cron", false, "write the time zone under timezone:, not in the cron expression")
			return s
		}
		spec, err := CronParser.Parse(s.Cron)
		if err != nil {
			l.prob(ptr+"/cron", false, "%q is not a cron expression (%v): write minute hour day-of-month month day-of-week, e.g. \"0 9 * * MON-FRI\", optionally with seconds first", s.Cron, err)
		} else {
			s.Spec = spec
		}
	}
	return s
}

// form reads on: {form: ...}: its schema must be an object schema whose
// properties are of the types a page can ask for.
func (l *loader) form(m map[string]any, ptr string) *FormTrigger {
	f := &FormTrigger{}
	f.Title, _ = m["title"].(string)
	f.Description, _ = m["description"].(string)
	f.Submit, _ = m["submit"].(string)
	f.Thanks, _ = m["thanks"].(string)
	sch, _ := m["schema"].(map[string]any)
	sptr := ptr + "/schema"
	if sch == nil {
		return f
	}
	raw, err := json.Marshal(sch)
	if err != nil {
		l.prob(sptr, false, "%v", err)
		return f
	}
	f.Schema = raw
	if _, err := compileSchema("https://paperflow.dev/forms/form.schema.json", raw); err != nil {
		l.prob(sptr, false, "not a valid JSON Schema: %v", err)
		return f
	}
	if f.Title == "" {
		f.Title, _ = sch["title"].(string)
	}
	if f.Description == "" {
		f.Description, _ = sch["description"].(string)
	}
	required := map[string]bool{}
	if req, ok := sch["required"].([]any); ok {
		for _, r := range req {
			if s, ok := r.(string); ok {
				required[s] = true
			}
		}
	}
	props, _ := sch["properties"].(map[string]any)
	if len(props) == 0 {
		l.prob(sptr, false, "a form needs fields: give the schema properties, e.g. properties: {email: {type: string, format: email, title: Your email}}")
		return f
	}
	pptr := sptr + "/properties"
	for _, name := range l.keysInOrder(props, pptr) {
		p, _ := props[name].(map[string]any)
		if fld, ok := l.formField(name, p, ptrJoin(pptr, name)); ok {
			fld.Required = required[name]
			f.Fields = append(f.Fields, fld)
		}
	}
	for name := range required {
		if _, ok := props[name]; !ok {
			l.prob(sptr+"/required", false, "%q is required but is not among the properties; add it under properties: or remove it from required:", name)
		}
	}
	return f
}

func (l *loader) formField(name string, p map[string]any, ptr string) (FormField, bool) {
	f := FormField{Name: name, Label: name}
	if t, ok := p["title"].(string); ok && t != "" {
		f.Label = t
	}
	f.Description, _ = p["description"].(string)
	typ, _ := p["type"].(string)
	format, _ := p["format"].(string)
	if n, ok := number(p["maxLength"]); ok {
		f.MaxLength = int(n)
	}
	if n, ok := number(p["minimum"]); ok {
		f.Minimum = &n
	}
	if n, ok := number(p["maximum"]); ok {
		f.Maximum = &n
	}
	if enum, ok := p["enum"].([]any); ok {
		for _, e := range enum {
			f.Enum = append(f.Enum, fmt.Sprint(e))
		}
		f.Type = FieldEnum
		return f, true
	}
	switch {
	case typ == "string" && (format == "binary" || format == "file" || p["contentMediaType"] != nil):
		f.Type = FieldFile
	case typ == "string" && format == "email":
		f.Type = FieldEmail
	case typ == "string" && format == "date":
		f.Type = FieldDate
	case typ == "string" && (format == "textarea" || f.MaxLength > 200):
		f.Type = FieldText
	case typ == "string":
		f.Type = FieldString
	case typ == "number", typ == "integer", typ == "boolean":
		f.Type = typ
	default:
		if typ == "" {
			typ = "no type"
		}
		l.prob(ptr, true, "field %q has %s: a form field is a string (formats email, date, binary for a file), number, integer, boolean, or has enum:", name, typ)
		return f, false
	}
	return f, true
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}
