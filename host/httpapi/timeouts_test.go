package httpapi_test

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paperflow/paperflow/host/httpapi"
)

// short are timeouts small enough for a test; a client that is not cut
// off gives up after patience.
var short = httpapi.Timeouts{
	ReadHeader: 150 * time.Millisecond, Read: 150 * time.Millisecond, Write: 150 * time.Millisecond,
	Idle: 150 * time.Millisecond, BlockBody: 150 * time.Millisecond, BlockCall: 150 * time.Millisecond,
	Download: 5 * time.Second,
}

const patience = 3 * time.Second

// serveWith runs s's own http.Server on 127.0.0.1 and returns its address.
func serveWith(t *testing.T, s *httpapi.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := s.HTTPServer()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// cutOff says whether the server ends conn (closes it, or answers and
// closes it) before the client's patience runs out.
func cutOff(t *testing.T, conn net.Conn) bool {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(patience))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	docs := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// A download slower than the write timeout, within Download.
		_, _ = io.WriteString(w, "first half,")
		_ = http.NewResponseController(w).Flush()
		time.Sleep(3 * short.Write)
		_, _ = io.WriteString(w, "second half")
	})
	s := &httpapi.Server{Documents: docs, Runs: &loadingStarter{}, Workflows: &httpapi.Workflows{}, Token: token, Log: slog.Default(), Timeouts: short}
	addr := serveWith(t, s)

	t.Run("slow body", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/api/runs", "/public/webhook/subscribe", "/blocks/wf/page/form"} {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Headers promise 100 bytes; one comes, then nothing.
			_, _ = io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+token+"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
			start := time.Now()
			if !cutOff(t, conn) {
				t.Errorf("POST %s: a body that stalls held the connection for %v", path, time.Since(start))
			}
		}
	})
	t.Run("slow headers", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		if !cutOff(t, conn) {
			t.Error("headers that stall held the connection")
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close {
			t.Fatal("the server closed the connection after one request; want keep-alive")
		}
		_ = conn.SetReadDeadline(time.Now().Add(patience))
		_, err = io.Copy(io.Discard, br)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Error("an idle keep-alive connection stayed open")
		}
	})
	t.Run("download outlasts the write timeout", func(t *testing.T) {
		t.Parallel()
		resp, err := http.Get("http://" + addr + "/documents/x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != "first half,second half" {
			t.Errorf("download: %q, %v", body, err)
		}
	})
	t.Run("large body", func(t *testing.T) {
		t.Parallel()
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/runs", strings.NewReader(`{"file": "`+strings.Repeat("x", 1<<20)+`"}`))
		req.Header.Set("Authorization", bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("1 MiB body: %s, want 413", resp.Status)
		}
	})
}
