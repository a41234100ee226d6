package httpapi_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/paperflow/paperflow/host/httpapi"
)

// TestAPIToken checks the Authorization header on both APIs the token
// guards: the Bearer scheme (RFC 9110, 11.1: case-insensitive, then one or
// more spaces) followed by exactly the token.
func TestAPIToken(t *testing.T) {
	t.Parallel()
	subs := newAPI(t, token)
	runs := httptest.NewServer((&httpapi.Server{Documents: http.NotFoundHandler(), Runs: &loadingStarter{}, Token: token, Log: slog.Default()}).Handler())
	t.Cleanup(runs.Close)

	tests := []struct {
		header string
		ok     bool
	}{
		{"Bearer " + token, true},
		{"bearer " + token, true},
		{"BEARER " + token, true},
		{"bEaReR " + token, true},
		{"Bearer    " + token, true},
		{token, false},
		{"", false},
		{"Bearer", false},
		{"Bearer ", false},
		{"Bearer" + token, false},
		{"Bearer\t" + token, false},
		{"Basic " + token, false},
		{"Token " + token, false},
		{"Bearer wrong", false},
		{"Bearer " + token + "x", false},
		{"Bearer " + token[:len(token)-1], false},
		{"Bearer " + token + " " + token, false},
		{"Bearer Bearer " + token, false},
	}
	for _, tc := range tests {
		for _, u := range []string{runs.URL + "/api/runs", subs.URL + "/public/webhook/subscriptions"} {
			req, _ := http.NewRequest("GET", u, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.StatusCode != http.StatusUnauthorized; got != tc.ok {
				t.Errorf("GET %s with Authorization %q: %s, want accepted %v", u, tc.header, resp.Status, tc.ok)
			}
		}
	}
}
