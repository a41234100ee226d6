package console

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
)

// emailView is an email an item's block sent, as the item page previews
// it: headers and text as text, the HTML part in a sandboxed frame.
type emailView struct {
	MessageID   string
	Subject     string
	From, To    string
	Text        string
	HasHTML     bool
	HTMLURL     string
	Attachments []string
	Missing     string // why there is no preview
}

func (c *Console) email(messageID, subject string, to any) emailView {
	v := emailView{MessageID: messageID, Subject: subject, To: fmt.Sprint(to)}
	if c.o.Mail == nil {
		v.Missing = "Mail goes out by SMTP: no copy is kept to preview."
		return v
	}
	raw, err := c.o.Mail.Find(messageID)
	if err != nil {
		v.Missing = "The message is not in the outbox."
		return v
	}
	m, err := parseMail(raw)
	if err != nil {
		v.Missing = "The message could not be read: " + err.Error()
		return v
	}
	v.Subject, v.From, v.To, v.Text, v.Attachments = m.subject, m.from, m.to, m.text, m.attachments
	if m.html != "" {
		v.HasHTML, v.HTMLURL = true, "/mail?id="+url.QueryEscape(messageID)
	}
	return v
}

type parsedMail struct {
	subject, from, to string
	text, html        string
	attachments       []string
}

func parseMail(raw []byte) (*parsedMail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	dec := new(mime.WordDecoder)
	header := func(k string) string {
		v := msg.Header.Get(k)
		if d, err := dec.DecodeHeader(v); err == nil {
			return d
		}
		return v
	}
	p := &parsedMail{subject: header("Subject"), from: header("From"), to: header("To")}
	err = p.part(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), "", msg.Body, 0)
	return p, err
}

// part reads one MIME part, walking into multiparts (to a small depth).
func (p *parsedMail) part(ctype, encoding, disposition string, body io.Reader, depth int) error {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") && depth < 5 {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := p.part(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part.Header.Get("Content-Disposition"), part, depth+1); err != nil {
				return err
			}
		}
	}
	var r io.Reader = io.LimitReader(body, 4<<20)
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, newlineDropper{r})
	}
	if d, dp, _ := mime.ParseMediaType(disposition); d == "attachment" || (d == "inline" && dp["filename"] != "") {
		name := dp["filename"]
		if name == "" {
			name = params["name"]
		}
		p.attachments = append(p.attachments, name)
		return nil
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	switch {
	case mt == "text/plain" && p.text == "":
		p.text = string(data)
	case mt == "text/html" && p.html == "":
		p.html = string(data)
	default:
		if name := params["name"]; name != "" {
			p.attachments = append(p.attachments, name)
		}
	}
	return nil
}

// newlineDropper drops line breaks from base64 text.
type newlineDropper struct{ r io.Reader }

func (n newlineDropper) Read(b []byte) (int, error) {
	k, err := n.r.Read(b)
	j := 0
	for _, c := range b[:k] {
		if c != '\r' && c != '\n' {
			b[j] = c
			j++
		}
	}
	return j, err
}

// mailCSP is the policy of an email's HTML: no script, no request to
// anywhere (a tracking pixel stays dark), inline styles only, and a
// sandbox even when opened outside its frame.
const mailCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox"

// mailBody serves the HTML part of a sent email for the preview frame.
func (c *Console) mailBody(w http.ResponseWriter, r *http.Request, ss *session) {
	id := r.URL.Query().Get("id")
	if c.o.Mail == nil {
		http.NotFound(w, r)
		return
	}
	raw, err := c.o.Mail.Find(id)
	if err != nil {
		c.message(w, r, ss, http.StatusNotFound, "Not found", "The message is not in the outbox.")
		return
	}
	m, err := parseMail(raw)
	if err != nil || m.html == "" {
		c.message(w, r, ss, http.StatusNotFound, "No HTML", "The message has no HTML part.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", mailCSP)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	_, _ = io.WriteString(w, m.html)
}
