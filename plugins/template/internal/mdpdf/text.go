package mdpdf

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/yuin/goldmark/util"

	"github.com/paperflow/paperflow/plugins/template/fonts"
)

// Escape makes s literal text in Markdown: every ASCII punctuation
// character is backslash-escaped, so a value holding "**", "# ", "|", "<b>"
// or "![x](y)" prints as written. A line break in s (LF, CRLF or CR)
// becomes <br>, the one raw HTML tag the layout draws: unlike a
// backslash-newline it is an inline break in a heading and a table cell
// too, and it never ends the block the value sits in. Other control
// characters are dropped. Use it as the tags.Scope Escape when rendering a
// Markdown template.
func Escape(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				continue
			}
			b.WriteString(lineBreak)
		case c == '\n':
			b.WriteString(lineBreak)
		case c == '\t':
			b.WriteByte(' ')
		case c < 0x20 || c == 0x7f:
		case c < utf8.RuneSelf && isASCIIPunct(c):
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// lineBreak is what Escape writes for a line break in a value.
const lineBreak = "<br>"

func isASCIIPunct(c byte) bool {
	return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~')
}

// unescape resolves backslash escapes and entity references of Markdown
// text in one pass, as a CommonMark renderer does.
func unescape(b []byte) string {
	if !strings.ContainsAny(string(b), "\\&") {
		return string(b)
	}
	var out strings.Builder
	out.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '\\' && i+1 < len(b) && isASCIIPunct(b[i+1]):
			out.WriteByte(b[i+1])
			i++
		case c == '&':
			if s, n := entity(b[i:]); n > 0 {
				out.WriteString(s)
				i += n - 1
				continue
			}
			out.WriteByte(c)
		default:
			out.WriteByte(c)
		}
	}
	return out.String()
}

// entity decodes a character reference at the start of b and returns the
// text and the number of bytes it took, or 0 when there is none.
func entity(b []byte) (string, int) {
	end := -1
	for i := 1; i < len(b) && i < 40; i++ {
		if b[i] == ';' {
			end = i
			break
		}
	}
	if end < 2 {
		return "", 0
	}
	name := string(b[1:end])
	if name[0] == '#' {
		num, base := name[1:], 10
		if len(num) > 0 && (num[0] == 'x' || num[0] == 'X') {
			num, base = num[1:], 16
		}
		if num == "" || len(num) > 7 {
			return "", 0
		}
		v, err := strconv.ParseUint(num, base, 32)
		if err != nil {
			return "", 0
		}
		r := rune(v)
		if r == 0 || !utf8.ValidRune(r) {
			r = utf8.RuneError
		}
		return string(r), end + 1
	}
	if e, ok := util.LookUpHTML5EntityByName(name); ok {
		return string(e.Characters), end + 1
	}
	return "", 0
}

// span is text set in one face.
type span struct {
	text string
	face *fonts.Face
}

// spans makes s drawable: tabs and line breaks become spaces, control and
// format characters (bidi overrides, zero-width joiners) go, and s is cut
// into spans set in face or, for characters face lacks, in the first
// fallback face that has a whole run of them (else character by
// character). A character no face has becomes U+FFFD and is recorded in
// d.missing, so the item can say so.
func (d *doc) spans(face *fonts.Face, s string) []span {
	simple := true
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r > 0x7e && !face.Has(r) {
			simple = false
			break
		}
	}
	if simple {
		return []span{{s, face}}
	}
	var out []span
	var buf []byte // text of the span being built, in bufFace
	var bufFace *fonts.Face
	add := func(f *fonts.Face, text string) {
		if f != bufFace && len(buf) > 0 {
			out = append(out, span{string(buf), bufFace})
			buf = buf[:0]
		}
		bufFace = f
		buf = append(buf, text...)
	}
	var lack []rune // a run of characters face lacks
	flushLack := func() {
		if len(lack) == 0 {
			return
		}
		if f := fonts.Fallback(lack); f != nil {
			add(f, string(lack))
			lack = lack[:0]
			return
		}
		for _, r := range lack {
			switch f := fonts.Fallback([]rune{r}); {
			case f != nil:
				add(f, string(r))
			case unicode.Is(unicode.Mn, r):
				// a combining mark no font has: the base letter stands alone
			default:
				if d.missing == nil {
					d.missing = map[rune]bool{}
				}
				d.missing[r] = true
				if face.Has(utf8.RuneError) {
					add(face, string(utf8.RuneError))
				} else {
					add(face, "?")
				}
			}
		}
		lack = lack[:0]
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n':
			flushLack()
			add(face, " ")
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
		case face.Has(r):
			flushLack()
			add(face, string(r))
		default:
			lack = append(lack, r)
		}
	}
	flushLack()
	if len(buf) > 0 {
		out = append(out, span{string(buf), bufFace})
	}
	return out
}

// direction of a word: right-to-left only when it has right-to-left
// letters and no left-to-right ones.
func isRTL(s string) bool {
	rtl := false
	for _, r := range s {
		switch {
		case r < 0x0590:
			if unicode.IsLetter(r) {
				return false
			}
		case r <= 0x08FF || (r >= 0xFB1D && r <= 0xFDFF) || (r >= 0xFE70 && r <= 0xFEFF):
			if unicode.IsLetter(r) {
				rtl = true
			}
		default:
			if unicode.IsLetter(r) {
				return false
			}
		}
	}
	return rtl
}

// reverse puts a right-to-left word in visual order, keeping each
// combining mark after its base letter.
func reverse(s string) string {
	var clusters []string
	for i := 0; i < len(s); {
		j := i
		_, n := utf8.DecodeRuneInString(s[j:])
		j += n
		for j < len(s) {
			r, n := utf8.DecodeRuneInString(s[j:])
			if !unicode.Is(unicode.Mn, r) {
				break
			}
			j += n
		}
		clusters = append(clusters, s[i:j])
		i = j
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := len(clusters) - 1; i >= 0; i-- {
		b.WriteString(clusters[i])
	}
	return b.String()
}
