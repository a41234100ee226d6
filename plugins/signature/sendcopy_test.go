package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/hosttest"
	"github.com/paperflow/paperflow/host/httpapi"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/mail/smtptest"
	"github.com/paperflow/paperflow/host/workflow"
)

// newSMTPHostEnv is newHostEnv with mail sent over SMTP to a test server.
func newSMTPHostEnv(t *testing.T) (*hostEnv, *smtptest.Server) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs block binaries through the engine")
	}
	srv := smtptest.Start(t, smtptest.Options{})
	cfg, err := mail.ParseSMTPURL(srv.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	h := hosttest.Start(t, hosttest.Options{Blocks: blocks, PublicURL: u, Engine: func(o *engine.Options) { o.Mail = tr }})
	env := &hostEnv{bus: h.Bus, engine: h.Engine, url: u, log: h.Log, plugins: h.PluginDir}
	env.api = &httpapi.Server{Documents: env.engine.Documents(), Log: env.log}
	hs := httptest.NewUnstartedServer(env.api.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	return env, srv
}

// smtpMail is a message the SMTP server got, decoded.
type smtpMail struct {
	to, subject, text string
	attachments       []string // file names
}

func decodeSMTP(t *testing.T, m smtptest.Message) smtpMail {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	out := smtpMail{to: strings.Join(m.To, ","), subject: subject}
	var walk func(ct string, body io.Reader, disposition string)
	walk = func(ct string, body io.Reader, disposition string) {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatalf("Content-Type %q: %v", ct, err)
		}
		if d, dp, err := mime.ParseMediaType(disposition); err == nil && d == "attachment" {
			out.attachments = append(out.attachments, dp["filename"])
			return
		}
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextPart()
				if err != nil {
					return
				}
				walk(p.Header.Get("Content-Type"), p, p.Header.Get("Content-Disposition"))
			}
		}
		if mt == "text/plain" && out.text == "" {
			b, _ := io.ReadAll(body)
			out.text = string(b)
		}
	}
	walk(msg.Header.Get("Content-Type"), msg.Body, msg.Header.Get("Content-Disposition"))
	return out
}

// signOverHTTP signs through a signing link as a browser without
// JavaScript would: open the page, tick consent, type the name, send.
func signOverHTTP(t *testing.T, link, name string) string {
	t.Helper()
	page := httpGet(t, link)
	m := submissionField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form on the signing page:\n%s", page)
	}
	resp, err := http.PostForm(link, url.Values{"action": {"sign"}, "consent": {"yes"}, "name": {name}, "submission": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign: %d\n%s", resp.StatusCode, body)
	}
	return string(body)
}

// TestSendCopy: at completion each recipient's mail, as the SMTP server
// gets it, carries the sealed PDF with send_copy left out or true, and
// no attachment with send_copy: false.
func TestSendCopy(t *testing.T) {
	env, srv := newSMTPHostEnv(t)
	for _, c := range []struct {
		name, sendCopy string
		attached       bool
		thanks         string
	}{
		{"default", "", true, "on its way to you by email"},
		{"true", "send_copy: true", true, "on its way to you by email"},
		{"false", "send_copy: false", false, "The sender keeps the signed document"},
	} {
		t.Run(c.name, func(t *testing.T) {
			email := c.name + "@example.com"
			wf := env.load(t, `name: copies-`+c.name+`
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: contract
    uses: makepdf
  - id: sign
    uses: signature
    with:
      documents: [contract]
      recipients: [{email: "{{Email}}", name: "{{Name}}"}]
      `+c.sendCopy+`
`, "Name,Email\nAda Lovelace,"+email+"\n")
			before := len(srv.Messages())
			sum, err := env.engine.Run(context.Background(), wf, engine.RunOptions{})
			if err != nil || sum.Succeeded != 1 {
				t.Fatalf("run: %+v %v", sum, err)
			}
			env.serveBlock(t, wf, "sign")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			invite := decodeSMTP(t, srv.Wait(ctx, t, before+1)[before])
			link := regexp.MustCompile(regexp.QuoteMeta(env.url) + `/blocks/[a-z0-9_-]+/sign/sign/[A-Za-z0-9_-]{43}`).FindString(invite.text)
			if invite.to != email || link == "" {
				t.Fatalf("invitation: %+v", invite)
			}
			if page := signOverHTTP(t, link, "Ada Lovelace"); !strings.Contains(page, c.thanks) {
				t.Errorf("page after signing lacks %q:\n%s", c.thanks, page)
			}
			done := decodeSMTP(t, srv.Wait(ctx, t, before+2)[before+1])
			if done.to != email || !strings.HasPrefix(done.subject, "Signed: ") || !strings.Contains(done.text, "Everyone has signed") {
				t.Fatalf("completion mail: %+v", done)
			}
			if got := len(done.attachments) == 1 && strings.HasSuffix(done.attachments[0], ".pdf"); got != c.attached {
				t.Errorf("completion mail attachments %v, want the signed PDF: %v", done.attachments, c.attached)
			}
			if !c.attached && len(done.attachments) != 0 {
				t.Errorf("send_copy: false, yet attached: %v", done.attachments)
			}
		})
	}
}

// TestSendCopyMustBeABoolean: paperflow validate reports a send_copy that
// is not true or false at its line.
func TestSendCopyMustBeABoolean(t *testing.T) {
	env := newHostEnv(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "wf.yaml")
	if err := os.WriteFile(filepath.Join(dir, "items.csv"), []byte("Name\nA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		value string
		ok    bool
	}{{"false", true}, {"true", true}, {`"no"`, false}, {"1", false}} {
		wf := `name: copybad
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: contract
    uses: makepdf
  - id: sign
    uses: signature
    with:
      documents: [contract]
      recipients: [{email: ada@example.com}]
      send_copy: ` + c.value + "\n"
		if err := os.WriteFile(file, []byte(wf), 0o644); err != nil {
			t.Fatal(err)
		}
		_, problems := workflow.Load(file, env.engine.Catalog())
		text := fmt.Sprint(problems)
		if c.ok != (len(problems) == 0) || (!c.ok && (!strings.Contains(text, "wf.yaml:11:") || !strings.Contains(text, "send_copy"))) {
			t.Errorf("send_copy: %s: problems %s", c.value, text)
		}
	}
}
