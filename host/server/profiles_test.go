package server

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestServeProfilesAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"[::1]:0", true},
		{"localhost:0", false},
		{"0.0.0.0:6060", false},
		{":6060", false},
		{"10.0.0.1:6060", false},
		{"example.com:6060", false},
		{"127.0.0.1", false},
	} {
		err := checkLoopback(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok %v", tc.addr, err, tc.ok)
		}
	}
}

func TestServeProfilesOff(t *testing.T) {
	stop, err := ServeProfiles("", nil)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if _, err := ServeProfiles("0.0.0.0:0", nil); err == nil {
		t.Error("ServeProfiles on 0.0.0.0: no error")
	}
}

func TestServeProfilesHeap(t *testing.T) {
	// Port 0 would hide the address; take the listener's from the log.
	var logged strings.Builder
	stop, err := ServeProfiles("127.0.0.1:0", slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	_, url, ok := strings.Cut(logged.String(), "url=")
	if !ok {
		t.Fatalf("no url in the log: %q", logged.String())
	}
	resp, err := http.Get(strings.TrimSpace(url) + "heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "heap profile") {
		t.Errorf("GET heap: %s %.80q", resp.Status, body)
	}
}

// TestServeProfilesRefusesOtherHosts: a request naming another host (a
// page that pointed its own name at 127.0.0.1) gets nothing, and the
// command line, which may carry tokens, is not served at all.
func TestServeProfilesRefusesOtherHosts(t *testing.T) {
	var logged strings.Builder
	stop, err := ServeProfiles("127.0.0.1:0", slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	_, url, _ := strings.Cut(logged.String(), "url=")
	base := strings.TrimSpace(url)
	for _, tc := range []struct {
		path, host string
		want       int
	}{
		{"heap?debug=1", "", http.StatusOK},
		{"heap?debug=1", "localhost:6060", http.StatusOK},
		{"heap?debug=1", "[::1]:6060", http.StatusOK},
		{"heap?debug=1", "attacker.example:6060", http.StatusForbidden},
		{"heap?debug=1", "attacker.example", http.StatusForbidden},
		{"cmdline", "", http.StatusNotFound},
	} {
		req, err := http.NewRequest(http.MethodGet, base+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if tc.path == "cmdline" && strings.Contains(string(body), "test") {
			t.Errorf("cmdline served: %.80q", body)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s (Host %q): %s, want %d", tc.path, tc.host, resp.Status, tc.want)
		}
	}
}
