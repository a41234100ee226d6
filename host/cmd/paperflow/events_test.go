package main_test

import (
	"strings"
	"testing"
)

// TestEventsTailRefusesBadFilters: a filter that can match nothing is
// refused at once rather than tailing nothing until Ctrl-C.
func TestEventsTailRefusesBadFilters(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--workflow", "a.b"}, `--workflow: workflow name "a.b": a name is lowercase letters`},
		{[]string{"--workflow", "Invoices"}, `--workflow: workflow name "Invoices"`},
		{[]string{"--workflow", ">"}, `--workflow: workflow name ">"`},
		{[]string{"--type", "DOCUMENT_CREATED"}, `--type: unknown event type "DOCUMENT_CREATED"`},
	}
	for _, c := range cases {
		r := paperflow(t, t.TempDir(), append([]string{"events", "tail"}, c.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("events tail %s: exit %d, %q, want %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
}
