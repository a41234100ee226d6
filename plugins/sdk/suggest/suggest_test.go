package suggest

import "testing"

func TestDidYouMean(t *testing.T) {
	names := []string{"csv", "email", "template", "webhook"}
	for _, tc := range []struct{ in, want string }{
		{"emial", ` (did you mean "email"?)`},
		{"Templte", ` (did you mean "template"?)`},
		{"csb", ` (did you mean "csv"?)`},
		{"pdf", ""}, // two edits from csv: too many for three letters
		{"webhooks", ` (did you mean "webhook"?)`},
		{"", ""},
	} {
		if got := DidYouMean(tc.in, names); got != tc.want {
			t.Errorf("DidYouMean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"kitten", "sitting", 3}, {"send", "send", 0},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
