package main

import (
	"slices"
	"strings"
	"testing"
)

func TestParseAddresses(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   []string
		want []string // bare addresses
	}{
		{[]string{"ada@example.com"}, []string{"ada@example.com"}},
		{[]string{"Ada Lovelace <ada@example.com>"}, []string{"ada@example.com"}},
		{[]string{"ada@example.com, Bob <bob@example.org>"}, []string{"ada@example.com", "bob@example.org"}},
		{[]string{"ada@example.com", "", "  ", "bob@example.org"}, []string{"ada@example.com", "bob@example.org"}},
		{[]string{"=?utf-8?q?Zo=C3=AB?= <zoe@example.com>"}, []string{"zoe@example.com"}},
		{[]string{"zoë@bücher.example"}, []string{"zoë@xn--bcher-kva.example"}},
		{[]string{"ops@[127.0.0.1]"}, []string{"ops@[127.0.0.1]"}},
		{nil, nil},
	}
	for _, g := range good {
		got, err := parseAddresses("to", g.in)
		if err != nil {
			t.Errorf("%q: %v", g.in, err)
			continue
		}
		if b := bare(got); !slices.Equal(b, g.want) && !(len(b) == 0 && len(g.want) == 0) {
			t.Errorf("%q: got %q, want %q", g.in, b, g.want)
		}
	}
	bad := []struct {
		in   string
		want string
	}{
		{"not-an-address", "to: \"not-an-address\" is not a valid email address"},
		{"ada@", "not a valid email address"},
		{"ada@example.com\r\nBcc: victim@example.com", "line break (header injection refused)"},
		{"ada@exa_mple.com", "not a valid host name"},
		{"ada@-example.com", "not a valid host name"},
		{strings.Repeat("a", 65) + "@example.com", "at most 64"},
		{"ops@[not-an-ip]", "not a valid email address"},
	}
	for _, b := range bad {
		_, err := parseAddresses("to", []string{b.in})
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: error %v, want one saying %q", b.in, err, b.want)
		}
	}
	if _, err := parseAddress("reply_to", "a@example.com, b@example.com"); err == nil || !strings.Contains(err.Error(), "reply_to") {
		t.Errorf("two reply-to addresses: %v", err)
	}
}
