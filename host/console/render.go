package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pageSet holds one parsed template set per page, each with the layout.
type pageSet struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	"pretty":   pretty,
	"time":     fmtTime,
	"duration": fmtDuration,
	"percent":  percent,
	"join":     strings.Join,
	"add":      func(a, b int) int { return a + b },
	"sorted":   sortedKeys,
	"lower":    strings.ToLower,
	"query":    func(v url.Values) string { return v.Encode() },
	"has":      slices.Contains[[]string],
}

func mustPages() *pageSet {
	ps := &pageSet{byName: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t := template.Must(template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
		ps.byName[base] = t
	}
	return ps
}

// page is what every template gets.
type page struct {
	Title    string
	Nonce    string
	Nav      string
	LoggedIn bool
	ReadOnly bool
	CSRF     string
	Flash    string
	Data     any
}

// csp lets only the page's own style sheet and script (by nonce) run,
// frames only the console's own mail previews, and lets nothing frame the
// console: the same policy as the signing pages, plus connect-src for the
// live updates and frame-src for previews.
func csp(nonce string) string {
	return "default-src 'none'; script-src 'nonce-" + nonce + "'; style-src 'nonce-" + nonce + "'; " +
		"img-src 'self' data:; connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, ss *session, status int, name, title string, data any) {
	t := c.pages.byName[name]
	p := page{Title: title, Nonce: randomHex(16), Nav: name, Data: data, Flash: r.URL.Query().Get("flash")}
	if ss != nil {
		p.LoggedIn, p.ReadOnly, p.CSRF = true, ss.readOnly, ss.csrf
	}
	var buf bytes.Buffer
	if t == nil {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, name, p); err != nil {
		c.log.Error("console: render page", "page", name, "err", err)
		http.Error(w, "page error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp(p.Nonce))
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type messageData struct {
	Heading string
	Lines   []string
}

func (c *Console) message(w http.ResponseWriter, r *http.Request, ss *session, status int, heading string, lines ...string) {
	c.render(w, r, ss, status, "message", heading, messageData{Heading: heading, Lines: lines})
}

// fail shows an error a person can act on; the details go to the log.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, ss *session, what string, err error) {
	c.log.Warn("console: "+what, "path", r.URL.Path, "err", err)
	c.message(w, r, ss, http.StatusInternalServerError, "Could not "+what, err.Error())
}

func pretty(v any) string {
	var raw []byte
	switch x := v.(type) {
	case json.RawMessage:
		raw = x
	case []byte:
		raw = x
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		raw = b
	}
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		return string(raw)
	}
	return buf.String()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func fmtDuration(from, to time.Time) string {
	if from.IsZero() {
		return ""
	}
	if to.IsZero() {
		to = time.Now()
	}
	d := to.Sub(from)
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	return d.Round(time.Second).String()
}

func percent(done, total int64) int64 {
	if total <= 0 {
		return 0
	}
	return min(100, done*100/total)
}

// sortedKeys lists the keys of a map with string keys, in order.
func sortedKeys(m any) []string {
	v := reflect.ValueOf(m)
	if v.Kind() != reflect.Map {
		return nil
	}
	out := make([]string, 0, v.Len())
	for _, k := range v.MapKeys() {
		out = append(out, k.String())
	}
	sort.Strings(out)
	return out
}

// pager is the position in a paginated list.
type pager struct {
	Page, Pages, Total int
	Prev, Next         string // links, "" at the ends
}

const perPage = 50

func pageOf(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func newPager(r *http.Request, n, total int) pager {
	p := pager{Page: n, Total: total, Pages: max(1, (total+perPage-1)/perPage)}
	link := func(to int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(to))
		q.Del("flash")
		return r.URL.Path + "?" + q.Encode()
	}
	if n > 1 {
		p.Prev = link(n - 1)
	}
	if n < p.Pages {
		p.Next = link(n + 1)
	}
	return p
}

// filter is one select of a page's filter form: the query parameter Name,
// the chosen Value ("" for all) and the Options it offers.
type filter struct {
	Name, Label, Value string
	Options            []string
}

// newFilter reads the query parameter name. A value that is not one of
// options is dropped, so a page never filters on what its form cannot show.
func newFilter(q url.Values, name, label string, options []string) filter {
	f := filter{Name: name, Label: label, Value: q.Get(name), Options: options}
	if !slices.Contains(options, f.Value) {
		f.Value = ""
	}
	return f
}

// filterForm is a page's filter form (the "filters" template): a GET to
// Action with each filter's choice.
type filterForm struct {
	Action  string
	Filters []filter
}

// Value is the chosen value of the filter name, "" when none is.
func (f filterForm) Value(name string) string {
	for _, fl := range f.Filters {
		if fl.Name == name {
			return fl.Value
		}
	}
	return ""
}

// Query holds the chosen filters; it is empty when nothing is filtered.
func (f filterForm) Query() url.Values {
	q := url.Values{}
	for _, fl := range f.Filters {
		if fl.Value != "" {
			q.Set(fl.Name, fl.Value)
		}
	}
	return q
}
