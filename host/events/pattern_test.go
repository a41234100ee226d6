package events

import (
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// schemaPatterns are the patterns of the event schemas, plus patterns that
// exercise what the schemas do not: no anchors, one anchor, alternation,
// repetition counts, case folding, empty matches.
func schemaPatterns(tb testing.TB) []*regexp.Regexp {
	tb.Helper()
	v := testValidator(tb)
	seen := map[string]bool{}
	var out []*regexp.Regexp
	var walk func(s *jsonschema.Schema)
	visited := map[*jsonschema.Schema]bool{}
	walk = func(s *jsonschema.Schema) {
		if s == nil || visited[s] {
			return
		}
		visited[s] = true
		if s.Pattern != nil && !seen[s.Pattern.String()] {
			seen[s.Pattern.String()] = true
			out = append(out, s.Pattern)
		}
		for _, p := range s.Properties {
			walk(p)
		}
		for _, sub := range []*jsonschema.Schema{s.Ref, s.Items2020, s.Contains, s.If, s.Then, s.Else, s.Not} {
			walk(sub)
		}
	}
	walk(v.envelope.full)
	for _, c := range v.byType {
		walk(c.full)
	}
	if len(out) < 4 {
		tb.Fatalf("found %d patterns in the schemas", len(out))
	}
	for _, p := range []string{
		`a+b`, `^ab|cd$`, `(?i)^ab?c{2,3}$`, `x*`, `$`, `^$`, `^a.c$`, `(?s)^a.c$`, `^(ab|a)*b$`, `[0-9]{2}-[0-9]{2}`,
		`^[^\s,<>@]+@[^\s,<>@]+(, [^\s,<>@]+@[^\s,<>@]+)*$`, `^\d+(\.\d+)?$`, `é`, `^.{3}$`,
	} {
		out = append(out, regexp.MustCompile(p))
	}
	return out
}

var patternInputs = []string{
	"", "a", "ab", "abc", "aBc", "ABCC", "acc", "abcc", "cd", "xcd", "abx", "ab\n", "a\nc", "12-34", "1-2",
	"75d4033728f8cd786c965bff0413381348be947aee8e062a", "75D4033728f8cd786c965bff0413381348be947aee8e062a",
	"75d4033728f8cd786c965bff0413381348be947aee8e062", "75d4033728f8cd786c965bff0413381348be947aee8e062a0",
	"hiring", "hr-2026_x", "Hiring", "-hiring", "hr.hiring", "hr hiring", "hiring\n",
	"ada@example.com", "ada@example.com, hr@example.com", "ada@example.com,hr@example.com", "ada@example.com, ",
	"ada@@example.com", "a@b, c@d, e@f", "<abc@host>", "<abc@host", "<a b@host>", "abc@host>",
	"application/pdf", "text/plain; charset=utf-8", "text/plain ;x", "text/", "/pdf", "a/b;",
	"é", "aé", "éa@b", "<é@host>", "\xff", "ab\xff", "\t", "abab", "abababb", "3.14", "3.", "1",
	strings.Repeat("a", 1000), strings.Repeat("ab", 500) + "b",
}

func TestASCIIMatcherAgreesWithRegexp(t *testing.T) {
	t.Parallel()
	for _, re := range schemaPatterns(t) {
		m := newASCIIMatcher(re)
		if m == nil {
			t.Errorf("%s: no table", re)
			continue
		}
		for _, s := range patternInputs {
			if got, want := m.MatchString(s), re.MatchString(s); got != want {
				t.Errorf("%s on %q: %v, regexp says %v", re, s, got, want)
			}
		}
	}
	// What the table does not handle keeps to regexp.
	for _, p := range []string{`\bword\b`, `(?m)^a$`} {
		if newASCIIMatcher(regexp.MustCompile(p)) != nil {
			t.Errorf("%s: built a table for an assertion it does not handle", p)
		}
	}
}

func FuzzASCIIMatcher(f *testing.F) {
	for _, s := range patternInputs {
		f.Add(s)
	}
	patterns := schemaPatterns(f)
	matchers := make([]*asciiMatcher, len(patterns))
	for i, re := range patterns {
		matchers[i] = newASCIIMatcher(re)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i, re := range patterns {
			if got, want := matchers[i].MatchString(s), re.MatchString(s); got != want {
				t.Fatalf("%s on %q: %v, regexp says %v", re, s, got, want)
			}
		}
	})
}
