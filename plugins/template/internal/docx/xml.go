package docx

import (
	"fmt"
	"strings"
)

// tokKind is what a token of an XML part is.
type tokKind uint8

const (
	tokText  tokKind = iota // character data
	tokStart                // <w:p ...>
	tokEnd                  // </w:p>
	tokEmpty                // <w:br/>
	tokOther                // declarations, comments, CDATA, processing instructions
)

// token is a slice of an XML part. The parts are rewritten as text, never
// re-encoded, so that everything Word wrote (namespaces, extensions,
// attribute order) stays exactly as it was.
type token struct {
	kind tokKind
	name string // qualified element name, e.g. "w:t"
	raw  string
}

// tokenize cuts an XML document into tokens. It checks only as much as it
// needs: tags are closed and element names balance.
func tokenize(doc string) ([]token, error) {
	toks := make([]token, 0, strings.Count(doc, "<")*2)
	var stack []string
	for i := 0; i < len(doc); {
		if doc[i] != '<' {
			j := strings.IndexByte(doc[i:], '<')
			if j < 0 {
				j = len(doc) - i
			}
			toks = append(toks, token{kind: tokText, raw: doc[i : i+j]})
			i += j
			continue
		}
		rest := doc[i:]
		var end int
		switch {
		case strings.HasPrefix(rest, "<!--"):
			end = indexAfter(rest, "-->")
		case strings.HasPrefix(rest, "<![CDATA["):
			end = indexAfter(rest, "]]>")
		case strings.HasPrefix(rest, "<?"):
			end = indexAfter(rest, "?>")
		case strings.HasPrefix(rest, "<!"):
			end = indexAfter(rest, ">")
		default:
			end = tagEnd(rest)
			if end < 0 {
				return nil, fmt.Errorf("unclosed element at byte %d", i)
			}
			raw := rest[:end]
			t := token{raw: raw}
			switch {
			case strings.HasPrefix(raw, "</"):
				t.kind, t.name = tokEnd, elemName(raw[2:])
				if len(stack) == 0 || stack[len(stack)-1] != t.name {
					return nil, fmt.Errorf("unexpected </%s> at byte %d", t.name, i)
				}
				stack = stack[:len(stack)-1]
			case strings.HasSuffix(raw, "/>"):
				t.kind, t.name = tokEmpty, elemName(raw[1:])
			default:
				t.kind, t.name = tokStart, elemName(raw[1:])
				stack = append(stack, t.name)
			}
			toks = append(toks, t)
			i += end
			continue
		}
		if end < 0 {
			return nil, fmt.Errorf("unclosed markup at byte %d", i)
		}
		toks = append(toks, token{kind: tokOther, raw: rest[:end]})
		i += end
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("<%s> is never closed", stack[len(stack)-1])
	}
	return toks, nil
}

func indexAfter(s, sep string) int {
	j := strings.Index(s, sep)
	if j < 0 {
		return -1
	}
	return j + len(sep)
}

// tagEnd finds the ">" closing the tag at the start of s, skipping quoted
// attribute values.
func tagEnd(s string) int {
	quote := byte(0)
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i + 1
		}
	}
	return -1
}

func elemName(s string) string {
	end := strings.IndexAny(s, " \t\r\n/>")
	if end < 0 {
		return s
	}
	return s[:end]
}

// xmlUnescape decodes the character references of XML text.
func xmlUnescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '&' {
			b.WriteByte(s[i])
			continue
		}
		end := strings.IndexByte(s[i:], ';')
		if end < 0 || end > 12 {
			b.WriteByte('&')
			continue
		}
		ref := s[i+1 : i+end]
		var r rune = -1
		switch ref {
		case "amp":
			r = '&'
		case "lt":
			r = '<'
		case "gt":
			r = '>'
		case "quot":
			r = '"'
		case "apos":
			r = '\''
		default:
			var n int
			var err error
			if strings.HasPrefix(ref, "#x") || strings.HasPrefix(ref, "#X") {
				_, err = fmt.Sscanf(ref[2:], "%x", &n)
			} else if strings.HasPrefix(ref, "#") {
				_, err = fmt.Sscanf(ref[1:], "%d", &n)
			} else {
				err = fmt.Errorf("unknown")
			}
			if err == nil {
				r = rune(n)
			}
		}
		if r < 0 {
			b.WriteByte('&')
			continue
		}
		b.WriteRune(r)
		i += end
	}
	return b.String()
}

// xmlEscapeText escapes s for XML character data.
func xmlEscapeText(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}
