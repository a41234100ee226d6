package tags

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// helper is one function usable after "|". Its arguments are checked at
// parse time, so a template that parses never fails on a helper's arguments.
type helper struct {
	name  string
	want  string // what the arguments must be, for the parse error
	usage string // an example
	check func(args []any) (call, bool)
	fn    func(v any, c *call) (any, error)
}

// call is a helper with its arguments; no helper takes more than one.
type call struct {
	h *helper
	s string // a text argument
	n int    // a number argument
}

var helpers = map[string]*helper{}

var helperNames []string

func init() {
	for _, h := range []*helper{
		{name: "date", want: `helper "date" takes one quoted Go layout`, usage: `{{Date | date "2 January 2006"}}`,
			check: optString, fn: helperDate},
		{name: "number", want: `helper "number" takes the number of decimals (0 to 20)`, usage: `{{Amount | number 2}}`,
			check: decimals, fn: helperNumber},
		{name: "currency", want: `helper "currency" takes a quoted 3-letter currency code`, usage: `{{Amount | currency "EUR"}}`,
			check: currencyCode, fn: helperCurrency},
		{name: "default", want: `helper "default" takes the value to use when there is none`, usage: `{{Name | default "friend"}}`,
			check: oneValue, fn: helperDefault},
		{name: "upper", want: `helper "upper" takes no arguments`, usage: `{{Name | upper}}`,
			check: none, fn: func(v any, _ *call) (any, error) { return strings.ToUpper(str(v)), nil }},
		{name: "lower", want: `helper "lower" takes no arguments`, usage: `{{Name | lower}}`,
			check: none, fn: func(v any, _ *call) (any, error) { return strings.ToLower(str(v)), nil }},
		{name: "trim", want: `helper "trim" takes no arguments`, usage: `{{Name | trim}}`,
			check: none, fn: func(v any, _ *call) (any, error) { return strings.TrimSpace(str(v)), nil }},
	} {
		helpers[h.name] = h
		helperNames = append(helperNames, h.name)
	}
	sort.Strings(helperNames)
}

func none(args []any) (call, bool) { return call{}, len(args) == 0 }

func optString(args []any) (call, bool) {
	if len(args) == 0 {
		return call{}, true
	}
	s, ok := args[0].(string)
	return call{s: s}, ok && len(args) == 1
}

func decimals(args []any) (call, bool) {
	if len(args) == 0 {
		return call{n: -1}, true
	}
	f, ok := args[0].(float64)
	if !ok || len(args) != 1 || f != math.Trunc(f) || f < 0 || f > 20 {
		return call{}, false
	}
	return call{n: int(f)}, true
}

func currencyCode(args []any) (call, bool) {
	if len(args) != 1 {
		return call{}, false
	}
	s, ok := args[0].(string)
	if !ok || len(s) != 3 {
		return call{}, false
	}
	s = strings.ToUpper(s)
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return call{}, false
		}
	}
	n := 2
	if s == "JPY" || s == "KRW" {
		n = 0
	}
	return call{s: s, n: n}, true
}

func oneValue(args []any) (call, bool) {
	if len(args) != 1 {
		return call{}, false
	}
	return call{s: str(args[0])}, true
}

func helperDefault(v any, c *call) (any, error) {
	if v == nil || str(v) == "" {
		return c.s, nil
	}
	return v, nil
}

// dateLayouts are the input forms the date helper reads, most specific first.
// Slashed dates are day first (02/01/2006 is 2 January), as in most of the world.
var dateLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
	"2006-1-2",
	"2/1/2006 15:04:05",
	"2/1/2006 15:04",
	"2/1/2006",
	"2.1.2006",
	"2006/1/2",
	"2 January 2006",
	"2 Jan 2006",
	"January 2, 2006",
	"Jan 2, 2006",
	time.RFC1123Z,
	time.RFC1123,
}

func helperDate(v any, c *call) (any, error) {
	layout := c.s
	if layout == "" {
		layout = "2 January 2006"
	}
	if t, ok := v.(time.Time); ok {
		return t.Format(layout), nil
	}
	s := strings.TrimSpace(str(v))
	if s == "" {
		return "", nil
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.Format(layout), nil
		}
	}
	return nil, fmt.Errorf("cannot read %q as a date: write it as 2006-01-02, 02/01/2006 (day first) or 2006-01-02T15:04:05Z", s)
}

func helperNumber(v any, c *call) (any, error) {
	return amount(v, c, "a number")
}

var currencySymbols = map[string]string{"EUR": "€", "USD": "$", "GBP": "£"}

func helperCurrency(v any, c *call) (any, error) {
	s, err := amount(v, c, "an amount")
	if err != nil || s == "" {
		return s, err
	}
	digits, neg := strings.CutPrefix(s, "-")
	sign := ""
	if neg {
		sign = "-"
	}
	if sym, ok := currencySymbols[c.s]; ok {
		return sign + sym + digits, nil
	}
	return sign + digits + " " + c.s, nil
}

// amount is v rounded to c.n fraction digits and grouped by thousands, for
// number and currency: a blank value stays blank, and one that is not a
// decimal is an error saying it is not what was wanted ("a number").
func amount(v any, c *call, what string) (string, error) {
	if v == nil || str(v) == "" {
		return "", nil
	}
	neg, ip, fp, ok := decimal(v)
	if !ok {
		return "", fmt.Errorf("%q is not %s", str(v), what)
	}
	return formatDecimal(neg, ip, fp, c.n), nil
}

// decimal writes v in plain decimal notation and splits it into sign,
// integer digits and fraction digits. Amounts are rounded on these digits,
// never through binary floating point.
func decimal(v any) (neg bool, ip, fp string, ok bool) {
	var s string
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false, "", "", false
		}
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		s = strconv.FormatFloat(float64(x), 'f', -1, 32)
	default:
		s = ungroup(strings.TrimSpace(str(v)))
	}
	if !plainDecimal(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return false, "", "", false
		}
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	if s[0] == '-' || s[0] == '+' {
		neg, s = s[0] == '-', s[1:]
	}
	ip, fp, _ = strings.Cut(s, ".")
	ip = strings.TrimLeft(ip, "0")
	if ip == "" {
		ip = "0"
	}
	return neg, ip, fp, true
}

// plainDecimal reports whether s is [+-]digits[.digits] with at least one digit.
func plainDecimal(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// ungroup removes thousands separators from "1,234,567.89". Anything not
// grouped in threes is left alone (and then is not a number): "1,5" could be
// a decimal comma, and guessing would change an amount.
func ungroup(s string) string {
	if !strings.Contains(s, ",") {
		return s
	}
	body := strings.TrimLeft(s, "+-")
	ip, _, _ := strings.Cut(body, ".")
	groups := strings.Split(ip, ",")
	if len(groups[0]) < 1 || len(groups[0]) > 3 {
		return s
	}
	for i, g := range groups {
		if i > 0 && len(g) != 3 {
			return s
		}
		for j := 0; j < len(g); j++ {
			if g[j] < '0' || g[j] > '9' {
				return s
			}
		}
	}
	return strings.ReplaceAll(s, ",", "")
}

// formatDecimal rounds half away from zero to dec fraction digits (dec < 0
// keeps them as they are) and groups the integer digits by thousands.
func formatDecimal(neg bool, ip, fp string, dec int) string {
	if dec >= 0 {
		if len(fp) > dec {
			up := fp[dec] >= '5'
			digits := []byte(ip + fp[:dec])
			if up {
				i := len(digits) - 1
				for ; i >= 0 && digits[i] == '9'; i-- {
					digits[i] = '0'
				}
				if i >= 0 {
					digits[i]++
				} else {
					digits = append([]byte{'1'}, digits...)
				}
			}
			ip, fp = string(digits[:len(digits)-dec]), string(digits[len(digits)-dec:])
		} else {
			fp += strings.Repeat("0", dec-len(fp))
		}
	}
	var b strings.Builder
	b.Grow(len(ip) + len(ip)/3 + len(fp) + 2)
	if neg && strings.Trim(ip+fp, "0") != "" {
		b.WriteByte('-')
	}
	for i := 0; i < len(ip); i++ {
		if i > 0 && (len(ip)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(ip[i])
	}
	if fp != "" {
		b.WriteByte('.')
		b.WriteString(fp)
	}
	return b.String()
}
