package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/paperflow/paperflow/plugins/sdk/redact"
)

// Secrets never print their values: fmt (every verb), slog and
// encoding/json show the names only, so a Secrets that ends up in a log
// line, an error or a JSON summary by mistake leaks nothing. To use the
// values, look them up or range over the map.
var (
	_ fmt.Formatter  = Secrets(nil)
	_ slog.LogValuer = Secrets(nil)
	_ json.Marshaler = Secrets(nil)
)

// redactedValue stands for a secret's value wherever Secrets is printed.
const redactedValue = "[redacted]"

// Format implements fmt.Formatter: map[NAME:[redacted] …] for any verb.
func (s Secrets) Format(f fmt.State, _ rune) {
	names := s.names()
	for i, n := range names {
		names[i] = n + ":" + redactedValue
	}
	fmt.Fprintf(f, "map[%s]", strings.Join(names, " "))
}

// LogValue implements slog.LogValuer: a group of NAME=[redacted].
func (s Secrets) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(s))
	for _, n := range s.names() {
		attrs = append(attrs, slog.String(n, redactedValue))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON implements json.Marshaler: {"NAME": "[redacted]", …}.
func (s Secrets) MarshalJSON() ([]byte, error) {
	m := make(map[string]string, len(s))
	for n := range s {
		m[n] = redactedValue
	}
	return json.Marshal(m)
}

func (s Secrets) names() []string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// MinRedactLen is the shortest secret value that Redact looks for: a
// shorter one would match ordinary words and numbers all over a text, and
// is too short to be much of a secret anyway.
const MinRedactLen = 6

// Redact replaces every secret value in text with [secret NAME]: as
// written and in every form a request may carry it (percent-encoded,
// escaped in JSON, base64, inside HTTP Basic credentials; see
// plugins/sdk/redact). Values shorter than MinRedactLen are left alone.
func (s Secrets) Redact(text string) string {
	return s.Redactor().Replace(text)
}

// Redactor returns what Redact does, prepared once: a replacer that is
// safe for concurrent use, for a text that is redacted often (every log
// line, every attempt of a sink).
func (s Secrets) Redactor() *strings.Replacer {
	var list []redact.Secret
	for _, n := range s.names() {
		if v := s[n]; len(v) >= MinRedactLen {
			list = append(list, redact.Secret{Value: v, Label: "[secret " + n + "]"})
		}
	}
	return redact.NewReplacer(list...)
}

// RedactHandler wraps a slog handler so that no secret value of s reaches
// it: the message and every attribute (strings, errors, values printed
// with fmt, inside groups too) are passed through s.Redact. The host wraps
// its logger with it, which covers the lines bridged from block processes
// as well. With no secret long enough to redact, it returns h itself.
func RedactHandler(h slog.Handler, s Secrets) slog.Handler {
	long := false
	for _, v := range s {
		long = long || len(v) >= MinRedactLen
	}
	if !long {
		return h
	}
	return &redactHandler{next: h, r: s.Redactor()}
}

type redactHandler struct {
	next slog.Handler
	r    *strings.Replacer
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Replace(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return &redactHandler{next: h.next.WithAttrs(clean), r: h.r}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{next: h.next.WithGroup(name), r: h.r}
}

// attr redacts one attribute. A value that holds no secret is passed on
// as it was, so handlers still see errors, numbers and times as such.
func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.Replace(v.String()))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]slog.Attr, len(group))
		for i, g := range group {
			clean[i] = h.attr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(clean...)}
	case slog.KindAny:
		var text string
		switch x := v.Any().(type) {
		case error:
			text = x.Error()
		default:
			// What a text handler prints, and what a JSON handler
			// encodes: a secret in either becomes a redacted string.
			text = fmt.Sprintf("%+v", x)
			if j, err := json.Marshal(x); err == nil {
				text += "\n" + string(j)
			}
		}
		if h.r.Replace(text) != text {
			if err, ok := v.Any().(error); ok {
				return slog.String(a.Key, h.r.Replace(err.Error()))
			}
			return slog.String(a.Key, h.r.Replace(fmt.Sprintf("%+v", v.Any())))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
