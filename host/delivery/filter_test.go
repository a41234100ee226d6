package delivery

import "testing"

func TestCoveringSubject(t *testing.T) {
	for _, c := range []struct {
		subs []string
		want string
	}{
		{[]string{"paperflow.events.inv.DOCUMENTS_CREATED", "paperflow.events.inv.EMAILS_CREATED"}, "paperflow.events.inv.*"},
		{[]string{"paperflow.events.*.DOCUMENTS_CREATED", "paperflow.events.*.SIGNATURES_COMPLETED"}, "paperflow.events.*.*"},
		{[]string{"paperflow.deadletters.a.x", "paperflow.deadletters.b.y"}, "paperflow.deadletters.*.*"},
		{[]string{"a.b", "a.b.c"}, "a.>"},
		{[]string{"a.b.c", "a.b"}, "a.>"},
		{[]string{"a.b.>", "a.b.c.d"}, "a.b.>"},
		{[]string{"a.x.c", "a.y.c", "a.z.c"}, "a.*.c"},
	} {
		got := coveringSubject(c.subs)
		if got != c.want {
			t.Errorf("coveringSubject(%q) = %q, want %q", c.subs, got, c.want)
		}
		for _, s := range c.subs {
			if s[len(s)-1] != '>' && !subjectMatches(got, s) {
				t.Errorf("%q does not match %q", got, s)
			}
		}
	}
}

func TestMultiFilterServer(t *testing.T) {
	for v, want := range map[string]bool{
		"2.9.10": false, "2.9.25": false, "2.10.0": true, "2.10.4": true, "v2.11.0-RC.1": true,
		"2.12.1": true, "3.0.0": true, "1.4.1": false, "": false, "unknown": false,
	} {
		if got := multiFilterServer(v); got != want {
			t.Errorf("multiFilterServer(%q) = %v, want %v", v, got, want)
		}
	}
}
