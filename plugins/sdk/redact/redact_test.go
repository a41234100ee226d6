package redact

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const (
	pw     = "urlpassword123"
	odd    = "p@ss/wo+rd#1?~" // needs escaping everywhere, and base64 of it has + and /
	apiKey = "sk_live_9f8e7d6c5b4a"
)

func basic(user, pass string) string {
	r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

func jsonString(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}

func TestReplacer(t *testing.T) {
	r := NewReplacer(
		Secret{Value: pw, User: "user"},
		Secret{Value: odd, Label: "[secret ODD]"},
		Secret{Value: apiKey, Label: "[secret KEY]"},
	)
	for _, c := range []struct {
		name, in string
		// gone must not appear in the output; want must.
		gone []string
		want string
	}{
		{"as written", "password " + pw + " refused", []string{pw}, "password [redacted] refused"},
		{"Basic credentials of the URL user", "Authorization: " + basic("user", pw), []string{pw, "dXNlcjp1cmxwYXNzd29yZDEyMw"}, "Authorization: Basic [redacted]"},
		{"Basic credentials in an echoed JSON", `{"Authorization":` + jsonString(basic("user", odd)) + `}`,
			[]string{base64.StdEncoding.EncodeToString([]byte("user:" + odd))[4:]}, `Basic dXNl`},
		{"Basic credentials of another user", basic("someone-else", pw), []string{base64.StdEncoding.EncodeToString([]byte("someone-else:" + pw))}, "[redacted]"},
		{"Basic credentials, the secret as user name", basic(apiKey, ""), []string{base64.StdEncoding.EncodeToString([]byte(apiKey + ":"))}, "[secret KEY]"},
		{"base64 std", "token=" + base64.StdEncoding.EncodeToString([]byte(odd)), []string{base64.StdEncoding.EncodeToString([]byte(odd))}, "token=[secret ODD]"},
		{"base64 std, no padding", "token=" + base64.RawStdEncoding.EncodeToString([]byte(odd)) + ";", nil, "token=[secret ODD];"},
		{"base64 URL", "token=" + base64.URLEncoding.EncodeToString([]byte(odd)), nil, "token=[secret ODD]"},
		{"base64 URL, no padding", "token=" + base64.RawURLEncoding.EncodeToString([]byte(apiKey)), nil, "token=[secret KEY]"},
		{"base64 inside a longer text, offset 1", base64.StdEncoding.EncodeToString([]byte("x" + apiKey + "tail")), []string{base64.StdEncoding.EncodeToString([]byte(apiKey))[:8]}, "[secret KEY]"},
		{"base64 inside a longer text, offset 2", base64.RawURLEncoding.EncodeToString([]byte("xy" + odd + "tail")), nil, "[secret ODD]"},
		{"query escaping", "https://x/?key=" + url.QueryEscape(odd), []string{url.QueryEscape(odd)}, "https://x/?key=[secret ODD]"},
		{"path escaping", "https://x/" + url.PathEscape(odd), []string{url.PathEscape(odd)}, "https://x/[secret ODD]"},
		{"full URL with user info", (&url.URL{Scheme: "http", User: url.UserPassword("user", odd), Host: "h", Path: "/p"}).String(), []string{"p%40ss"}, "http://user:[secret ODD]@h/p"},
		{"full URL with the URL password", "http://user:" + pw + "@127.0.0.1/hook", []string{pw}, "http://[redacted]@127.0.0.1/hook"},
		{"JSON string", `{"password":` + jsonString(odd) + `}`, nil, `{"password":"[secret ODD]"}`},
		{"JSON with escaped slashes", `{"password":"` + strings.ReplaceAll(odd, "/", `\/`) + `"}`, nil, `{"password":"[secret ODD]"}`},
		{"nothing secret", "ok: dXNlcjpvdGhlcg== abc", nil, "ok: dXNlcjpvdGhlcg== abc"},
		{"empty", "", nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := r.Replace(c.in)
			for _, g := range append(c.gone, pw, odd, apiKey) {
				if strings.Contains(got, g) {
					t.Errorf("Replace(%q) = %q, still shows %q", c.in, got, g)
				}
			}
			if !strings.Contains(got, c.want) {
				t.Errorf("Replace(%q) = %q, want it to contain %q", c.in, got, c.want)
			}
		})
	}
}

// TestBase64AtAnyOffset hides a secret base64-encoded after any prefix
// and before any suffix: what stays of it are the characters it shares
// with its neighbours, never four in a row of its own.
func TestBase64AtAnyOffset(t *testing.T) {
	r := NewReplacer(Secret{Value: odd})
	for pre := range 3 {
		for _, enc := range encodings {
			in := enc.EncodeToString([]byte(strings.Repeat("a", pre) + odd + "zz"))
			got := r.Replace(in)
			if !strings.Contains(got, Label) {
				t.Errorf("prefix %d, %v: %q not redacted: %q", pre, enc == base64.StdEncoding, in, got)
			}
			if rest := strings.Replace(got, Label, "", 1); len(rest) > 8 {
				t.Errorf("prefix %d: %q left %q around the label", pre, in, rest)
			}
		}
	}
}

func TestForms(t *testing.T) {
	if f := (Secret{}).Forms(); f != nil {
		t.Errorf("empty secret has forms %q", f)
	}
	for _, f := range (Secret{Value: odd, User: "u"}).Forms() {
		if f == "" {
			t.Error("an empty form")
		}
	}
	sig := Secret{Value: "v1,K5oZ/fzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=", AsWritten: true}
	if got := Replace(`{"sig":"`+strings.ReplaceAll(sig.Value, "/", `\/`)+`","also":"`+sig.Value+`"}`, sig); got != `{"sig":"[redacted]","also":"[redacted]"}` {
		t.Errorf("a signature as written: %q", got)
	}
	if n := len(sig.Forms()); n != 2 {
		t.Errorf("a value hidden as written has %d forms, want itself and its \\/ escaping", n)
	}
	if got := Replace("ok", Secret{Value: pw}); got != "ok" {
		t.Errorf("Replace of a short text: %q", got)
	}
}
