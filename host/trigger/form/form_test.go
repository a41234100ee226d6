package form

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/trigger"
	"github.com/paperflow/paperflow/host/workflow"
)

func TestMain(m *testing.M) { hosttest.Main(m) }

const applyWorkflow = `name: apply
on:
  form:
    title: "<script>window.pwned=1</script> Apply"
    description: "Tell us <b>about</b> you"
    schema:
      type: object
      required: [name, email]
      properties:
        name: {type: string, title: "Your <i>name</i>", minLength: 2}
        email: {type: string, format: email, title: Email}
        years: {type: integer, minimum: 0, maximum: 60, title: Years}
        cv: {type: string, format: binary, title: CV, accept: ".pdf"}
blocks:
  - {id: one, uses: noop}
`

const httpWorkflow = `name: api
on: [http]
blocks:
  - {id: one, uses: noop}
`

// formHost serves the forms of two workflows (one with a form, one
// without) over real HTTP, taking submissions into the real engine.
func formHost(t *testing.T, burst int, every time.Duration) (*httptest.Server, *Handler) {
	t.Helper()
	env := hosttest.Start(t, hosttest.Options{Blocks: []string{"noop=../../../plugins/noop"}})
	ctx := context.Background()
	wfs := map[string]*workflow.Workflow{}
	for _, y := range []string{applyWorkflow, httpWorkflow} {
		wf := env.Load(t, y, nil)
		wfs[wf.Name] = wf
	}
	keys, err := trigger.OpenIdempotency(ctx, env.Bus)
	if err != nil {
		t.Fatal(err)
	}
	key, err := LoadKey(ctx, env.Engine.Store().HostKV)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{
		Lookup:    func(name string) (*workflow.Workflow, bool) { wf, ok := wfs[name]; return wf, ok },
		Intake:    &trigger.Intake{Items: env.Engine.NewTriggered(), Keys: keys, Log: env.Log},
		Documents: env.Engine.Documents(), Key: key, Log: env.Log, Burst: burst, Every: every,
	}
	srv := httptest.NewServer(h.Routes())
	t.Cleanup(srv.Close)
	return srv, h
}

func client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post sends a multipart form with values and, when data is set, a file cv.
func post(t *testing.T, c *http.Client, url string, values map[string]string, file []byte) (*http.Response, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range values {
		_ = mw.WriteField(k, v)
	}
	if file != nil {
		fw, _ := mw.CreateFormFile("cv", "cv.pdf")
		_, _ = fw.Write(file)
	}
	_ = mw.Close()
	resp, err := c.Post(url, mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestFormPage(t *testing.T) {
	srv, _ := formHost(t, 0, 0)
	url := srv.URL + "/forms/apply"
	c := client(t)

	resp, body := get(t, c, url)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the form: %d\n%s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'nonce-") || !strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("security headers: %v", resp.Header)
	}
	for _, want := range []string{
		"&lt;script&gt;window.pwned=1&lt;/script&gt; Apply", "Tell us &lt;b&gt;about&lt;/b&gt; you", "Your &lt;i&gt;name&lt;/i&gt;",
		`type="email"`, `type="number"`, `min="0"`, `max="60"`, `step="1"`, `type="file"`, `accept=".pdf"`, `enctype="multipart/form-data"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(body, "<script>window.pwned") || strings.Contains(body, "<i>name") {
		t.Error("markup from the workflow file is not escaped")
	}
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token in the page")
	}
	token := m[1]

	// A value with markup comes back as text beside its field's error.
	resp, body = post(t, c, url, map[string]string{"csrf": token, "name": "<script>window.pwned=2</script>", "email": "not an address", "years": "61"}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("invalid answers: %d", resp.StatusCode)
	}
	for _, want := range []string{`value="&lt;script&gt;window.pwned=2&lt;/script&gt;"`, "Enter an email address", "At most 60.", `value="not an address"`, `aria-invalid="true"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page with errors lacks %s", want)
		}
	}
	if strings.Contains(body, "<script>window.pwned=2") {
		t.Error("a posted value is not escaped")
	}

	// The schema's own keywords are checked too (minLength).
	_, body = post(t, c, url, map[string]string{"csrf": token, "name": "A", "email": "ada@example.com"}, nil)
	if !strings.Contains(body, "Length must be &gt;= 2") {
		t.Errorf("minLength not checked:\n%s", body)
	}

	// A file of a type the field does not accept.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("csrf", token)
	_ = mw.WriteField("name", "Ada")
	_ = mw.WriteField("email", "ada@example.com")
	fw, _ := mw.CreateFormFile("cv", "cv.exe")
	_, _ = fw.Write([]byte("MZ"))
	_ = mw.Close()
	r2, err := c.Post(url, mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b2), "not of an accepted type") {
		t.Errorf("a .exe for a .pdf field: %d", r2.StatusCode)
	}

	// Valid: the thanks page.
	resp, body = post(t, c, url, map[string]string{"csrf": token, "name": "Ada", "email": "ada@example.com", "years": "3"}, []byte("%PDF-1.4\n%%EOF\n"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="thanks"`) {
		t.Fatalf("a valid submission: %d\n%s", resp.StatusCode, body)
	}

	// Too large: a clear error, the values kept.
	resp, body = post(t, c, url, map[string]string{"csrf": token, "name": "Ada", "email": "ada@example.com"}, bytes.Repeat([]byte("x"), MaxUpload+1))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too large") {
		t.Errorf("a file over MaxUpload: %d", resp.StatusCode)
	}
}

func TestFormCSRF(t *testing.T) {
	srv, _ := formHost(t, 0, 0)
	url := srv.URL + "/forms/apply"
	c := client(t)
	_, body := get(t, c, url)
	token := csrfField.FindStringSubmatch(body)[1]
	valid := map[string]string{"name": "Ada", "email": "ada@example.com"}
	with := func(tok string) map[string]string {
		m := map[string]string{"csrf": tok}
		for k, v := range valid {
			m[k] = v
		}
		return m
	}
	for name, c := range map[string]struct {
		client *http.Client
		values map[string]string
	}{
		"token missing":             {c, valid},
		"token wrong":               {c, with(token[:len(token)-2] + "xx")},
		"cookie missing":            {client(t), with(token)},
		"token of another's cookie": {func() *http.Client { o := client(t); get(t, o, url); return o }(), with(token)},
	} {
		if resp, _ := post(t, c.client, url, c.values, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, resp.StatusCode)
		}
	}
	if resp, _ := post(t, c, url, with(token), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the right token: %d", resp.StatusCode)
	}
}

func TestFormRateLimit(t *testing.T) {
	srv, _ := formHost(t, 3, time.Hour)
	c := client(t)
	for i := range 3 {
		if resp, _ := get(t, c, srv.URL+"/forms/apply"); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := get(t, c, srv.URL+"/forms/apply")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("over the limit: %d", resp.StatusCode)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 3600 {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, "Too many attempts") {
		t.Errorf("429 page:\n%s", body)
	}
}

func TestFormNotFound(t *testing.T) {
	srv, _ := formHost(t, 0, 0)
	c := client(t)
	for _, path := range []string{"/forms/api", "/forms/nosuch", "/forms/apply/extra", "/forms/"} {
		if resp, _ := get(t, c, srv.URL+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	if resp, _ := post(t, c, srv.URL+"/forms/api", map[string]string{"x": "1"}, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST to a workflow without a form: %d, want 404", resp.StatusCode)
	}
}
