// Package redact hides secret values in text that may carry them back: a
// receiver's response that echoes the request, an error, a log line.
//
// A secret travels in more forms than the one it was written in, and a
// receiver may echo any of them, so each secret is hidden in every form
// below:
//
//   - as written, and escaped inside a JSON string (also with "\/");
//   - percent-encoded as in a query, a path and URL user info;
//   - base64, standard and URL alphabets, with and without padding: the
//     whole value, and the part of a longer base64 text that the value
//     alone decides wherever it starts in the encoded bytes (so Basic
//     credentials "user:secret" with any user are covered, short of the
//     characters shared with their neighbours);
//   - for a password from URL user info, the whole HTTP Basic credentials
//     base64(user:password), which an HTTP client sends as the
//     Authorization header.
//
// The host redacts its secrets with it (host/workflow), and a block the
// secret values of its own configuration (the webhook sender does), so
// both agree on what a secret looks like. It is part of the SDK because
// both sides of the plugin boundary need it.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// Label replaces a secret whose Secret.Label is empty.
const Label = "[redacted]"

// Secret is a value to hide.
type Secret struct {
	Value string
	// User is set when Value is the password of URL user info: the Basic
	// credentials User:Value are then hidden whole.
	User string
	// Label replaces every form of Value (Label when empty).
	Label string
	// AsWritten hides Value only as written and escaped in JSON: for a
	// value that is an encoding already and not a secret itself, such as
	// a request's signature, which is hidden so that no valid signature
	// of a body is kept.
	AsWritten bool
}

// NewReplacer returns a replacer that hides every form of every secret.
// At each position of a text the longest form wins, so a secret that holds
// another is hidden whole. It is safe for concurrent use; prepare it once
// for a text that is redacted often.
func NewReplacer(secrets ...Secret) *strings.Replacer {
	type pair struct{ old, new string }
	var pairs []pair
	for _, s := range secrets {
		if s.Value == "" {
			continue
		}
		label := s.Label
		if label == "" {
			label = Label
		}
		for _, f := range s.Forms() {
			pairs = append(pairs, pair{f, label})
		}
	}
	slices.SortStableFunc(pairs, func(a, b pair) int { return len(b.old) - len(a.old) })
	args := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		args = append(args, p.old, p.new)
	}
	return strings.NewReplacer(args...)
}

// Replace hides every form of every secret in one text. For a text whose
// secrets are its own (a request's signatures) it is cheaper than a
// replacer built for it; a text redacted often wants NewReplacer.
func Replace(text string, secrets ...Secret) string {
	if text == "" {
		return text
	}
	type pair struct{ old, new string }
	var found []pair
	for _, s := range secrets {
		label := s.Label
		if label == "" {
			label = Label
		}
		if len(text) < min(len(s.Value), minBase64Core) {
			continue // no form of it fits
		}
		for _, f := range s.Forms() {
			if strings.Contains(text, f) {
				found = append(found, pair{f, label})
			}
		}
	}
	// Longest first, so a form that holds another is hidden whole.
	slices.SortStableFunc(found, func(a, b pair) int { return len(b.old) - len(a.old) })
	for _, p := range found {
		text = strings.ReplaceAll(text, p.old, p.new)
	}
	return text
}

// Forms lists the forms in which s may appear in a text, each once.
func (s Secret) Forms() []string {
	v := s.Value
	if v == "" {
		return nil
	}
	if s.AsWritten {
		return append([]string{v}, jsonForms(v)...)
	}
	forms := []string{v, url.QueryEscape(v), url.PathEscape(v), userinfoEscape(v)}
	forms = append(forms, base64Forms(v)...)
	if s.User != "" {
		cred := s.User + ":" + v
		for _, enc := range encodings {
			forms = append(forms, enc.EncodeToString([]byte(cred)))
		}
		forms = append(forms, userinfoEscape(s.User)+":"+userinfoEscape(v))
	}
	for _, f := range slices.Clone(forms) {
		forms = append(forms, jsonForms(f)...)
	}
	slices.Sort(forms)
	return slices.DeleteFunc(slices.Compact(forms), func(f string) bool { return f == "" })
}

var encodings = []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}

// base64Forms are v encoded whole, and the characters that v alone
// decides when it starts 0, 1 or 2 bytes into a 3-byte group of a longer
// encoded text: v's bytes lie at bits [8k, 8(k+n)) of the encoded stream,
// and character i holds bits [6i, 6i+6).
func base64Forms(v string) []string {
	var out []string
	for _, enc := range encodings {
		out = append(out, enc.EncodeToString([]byte(v)))
	}
	for k := range 3 {
		buf := make([]byte, k+len(v))
		copy(buf[k:], v)
		from := (8*k + 5) / 6      // first character with no bit before v
		to := 8 * (k + len(v)) / 6 // characters up to here have no bit after v
		if to-from < minBase64Core {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			out = append(out, enc.EncodeToString(buf)[from:to])
		}
	}
	return out
}

// minBase64Core is the shortest part of a longer base64 text that is
// taken for a secret's: shorter ones would match ordinary base64 by chance.
const minBase64Core = 4

// userinfoEscape is v escaped as URL user info escapes it.
func userinfoEscape(v string) string {
	s := url.UserPassword("", v).String()
	return strings.TrimPrefix(s, ":")
}

// jsonForms are f inside a JSON string, as Go writes it and with "/"
// escaped as some encoders do (nothing when f reads the same there).
func jsonForms(f string) []string {
	var out []string
	if strings.ContainsFunc(f, func(r rune) bool {
		return r < 0x20 || r == '"' || r == '\\' || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
	}) {
		j, err := json.Marshal(f)
		if err != nil {
			return nil
		}
		f = string(j[1 : len(j)-1])
		out = append(out, f)
	}
	if strings.Contains(f, "/") {
		out = append(out, strings.ReplaceAll(f, "/", `\/`))
	}
	return out
}
