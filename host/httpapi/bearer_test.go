package httpapi

import "testing"

func TestBearerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"Bearer   abc", "abc", true},
		{"Bearer a.b-c_d~e+f/g=", "a.b-c_d~e+f/g=", true},
		{"abc", "", false},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer    ", "", false},
		{"Bearerabc", "", false},
		{"Bearer\tabc", "", false},
		{"Basic abc", "", false},
		{" Bearer abc", "", false},
		{"Bearer abc def", "", false},
		{"Bearer abc\t", "", false},
	}
	for _, tc := range tests {
		got, ok := bearerToken(tc.header)
		if got != tc.want || ok != tc.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCheckToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header, want, problem string
	}{
		{"Bearer s3cret", "s3cret", ""},
		{"bearer s3cret", "s3cret", ""},
		{"Bearer s3cret", "", "this host has no API token, so the API refuses every call: start it with --api-token or PAPERFLOW_API_TOKEN"},
		{"", "", "this host has no API token, so the API refuses every call: start it with --api-token or PAPERFLOW_API_TOKEN"},
		{"s3cret", "s3cret", "missing API token: send Authorization: Bearer <PAPERFLOW_API_TOKEN>"},
		{"Bearer s3cre", "s3cret", "wrong API token: send the one the host was started with (--api-token or PAPERFLOW_API_TOKEN)"},
		{"Bearer s3cret!", "s3cret", "wrong API token: send the one the host was started with (--api-token or PAPERFLOW_API_TOKEN)"},
	}
	for _, tc := range tests {
		if got := checkToken(tc.header, tc.want); got != tc.problem {
			t.Errorf("checkToken(%q, %q) = %q, want %q", tc.header, tc.want, got, tc.problem)
		}
	}
}
