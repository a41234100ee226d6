package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/hosttest"
)

func TestMain(m *testing.M) { hosttest.Main(m) }

// TestAnswerReachesPDFAndEmail runs a workflow through the host: the http
// block calls a local JSON API per item, and a field of its answer appears
// in the PDF the template block makes and in the email that carries it.
func TestAnswerReachesPDFAndEmail(t *testing.T) {
	if testing.Short() {
		t.Skip("builds blocks")
	}
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext (poppler-utils) is not installed: cannot read the PDF with an independent reader")
	}
	t.Setenv("PAPERFLOW_WEBHOOK_ALLOW", "127.0.0.1/32")
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
		var in struct {
			Email string `json:"email"`
		}
		if err := json.NewDecoder(bytes.NewReader(lastBody(r))).Decode(&in); err != nil || in.Email == "" {
			http.Error(w, "want {email}", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"customer": map[string]any{"number": "CU-" + strings.Split(in.Email, "@")[0], "tier": "gold"}})
	})
	env := hosttest.Start(t, hosttest.Options{Blocks: []string{"csv", "http=.", "template", "email"}})
	wf := env.Load(t, `name: crm
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: crm
    uses: http
    with:
      method: POST
      url: "`+a.URL+`/customers"
      body: {email: "{{Email}}", name: "{{Name}}"}
      expect: [201]
  - id: letter
    uses: template
    with: {template: letter.md, name: "Welcome {{Name}}"}
  - id: mail
    uses: email
    with:
      to: "{{Email}}"
      subject: "Your customer number {{blocks.crm.response.customer.number}}"
      text: "Tier: {{blocks.crm.response.customer.tier}}"
      attach: [letter]
`, map[string]string{
		"items.csv": "Name,Email\nAda,ada@example.com\nGrace,grace@example.com\n",
		"letter.md": "# Welcome {{Name}}\n\nYour customer number is {{blocks.crm.response.customer.number}}.\n",
	})
	sum, err := env.Engine.Run(context.Background(), wf, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Succeeded != 2 || a.calls.Load() != 2 {
		t.Fatalf("run %+v, %d API calls", sum, a.calls.Load())
	}
	emls, err := env.Outbox.List()
	if err != nil || len(emls) != 2 {
		t.Fatalf("outbox: %v, %v", emls, err)
	}
	seen := map[string]bool{}
	for _, file := range emls {
		subject, text, pdf := readMail(t, file)
		number := strings.TrimPrefix(subject, "Your customer number ")
		if number != "CU-ada" && number != "CU-grace" || !strings.Contains(text, "Tier: gold") {
			t.Errorf("mail %q: %q", subject, text)
		}
		seen[number] = true
		path := filepath.Join(t.TempDir(), "letter.pdf")
		if err := os.WriteFile(path, pdf, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(pdftotext, path, "-").Output()
		if err != nil || !strings.Contains(string(out), "Your customer number is "+number+".") {
			t.Errorf("PDF text (%v):\n%s", err, out)
		}
	}
	if len(seen) != 2 {
		t.Errorf("numbers %v", seen)
	}
}

// lastBody is the body the api recorded for r.
func lastBody(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body)
	return b
}

// readMail returns an .eml's subject, its text part and its PDF attachment.
func readMail(t *testing.T, file string) (subject, text string, pdf []byte) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	var walk func(ct string, body io.Reader, enc string)
	walk = func(ct string, body io.Reader, enc string) {
		mt, params, _ := mime.ParseMediaType(ct)
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err != nil {
					return
				}
				walk(p.Header.Get("Content-Type"), p, p.Header.Get("Content-Transfer-Encoding"))
			}
		}
		data, _ := io.ReadAll(body)
		switch strings.ToLower(enc) {
		case "base64":
			data, _ = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(data)), ""))
		case "quoted-printable":
			data, _ = io.ReadAll(newQP(data))
		}
		switch {
		case mt == "application/pdf":
			pdf = data
		case mt == "text/plain" && text == "":
			text = string(data)
		}
	}
	walk(msg.Header.Get("Content-Type"), msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
	if pdf == nil {
		t.Fatalf("%s has no PDF attachment", file)
	}
	return subject, text, pdf
}

func newQP(b []byte) io.Reader { return quotedprintable.NewReader(bytes.NewReader(b)) }
