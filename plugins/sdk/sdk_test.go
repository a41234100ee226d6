package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	blockv1 "github.com/paperflow/paperflow/plugins/proto/block/v1"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// step is a small block for exercising the SDK's conversions in-process.
type step struct{ configured sdk.Config }

func (*step) Describe() sdk.Descriptor {
	return sdk.Descriptor{Name: "step", Kind: sdk.KindStep, Version: "1", ConfigSchema: json.RawMessage(`{}`)}
}

func (s *step) Configure(_ context.Context, c sdk.Config) error {
	s.configured = c
	var v struct{ Fail bool }
	if err := c.Decode(&v); err != nil {
		return err
	}
	if v.Fail {
		return errors.New("configure refused")
	}
	return nil
}

func (s *step) Process(_ context.Context, items []sdk.Item) []sdk.Result {
	out := make([]sdk.Result, len(items))
	for i, it := range items {
		f, err := it.Fields()
		if err != nil {
			out[i].Err = err
			continue
		}
		switch f["do"] {
		case "panic":
			panic("boom")
		case "retry":
			out[i].Err = sdk.Retryable(errors.New("try later"))
		case "fail":
			out[i].Err = errors.New("no")
		default:
			var cfg struct{ Greeting string }
			if err := it.DecodeConfig(s.configured.With, &cfg); err != nil {
				out[i].Err = err
				continue
			}
			out[i].Outputs = map[string]any{"greeting": cfg.Greeting, "n": f["n"]}
		}
	}
	return out
}

func (s *step) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Path", r.URL.Path)
	if sdk.HostCall(r) {
		w.Header().Set("X-Host-Call", "yes")
	}
	w.WriteHeader(http.StatusTeapot)
	_, _ = w.Write(append([]byte(r.Method+" "+r.URL.RawQuery+" "), body...))
}

func TestProcessConversions(t *testing.T) {
	srv := sdk.InProcess(&step{})
	if _, err := srv.Configure(context.Background(), &blockv1.ConfigureRequest{Config: []byte(`{"Greeting": "hi"}`)}); err != nil {
		t.Fatal(err)
	}
	items := []*blockv1.Item{
		{Id: "1", Fields: []byte(`{"n": 12345678901234567890}`)},
		{Id: "2", Fields: []byte(`{"do": "retry"}`)},
		{Id: "3", Fields: []byte(`{"do": "fail"}`)},
		{Id: "4", Fields: []byte(`{}`), Config: []byte(`{"Greeting": "per item"}`)},
		{Id: "5", Fields: []byte(`not json`)},
	}
	resp, err := srv.Process(context.Background(), &blockv1.ProcessRequest{Items: items})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id, outputs, err string
		retryable        bool
	}{
		{"1", `{"greeting":"hi","n":12345678901234567890}`, "", false},
		{"2", "", "try later", true},
		{"3", "", "no", false},
		{"4", `{"greeting":"per item","n":null}`, "", false},
		{"5", "", "decode fields", false},
	}
	for i, tc := range tests {
		r := resp.Results[i]
		if r.ItemId != tc.id || string(r.Outputs) != tc.outputs || r.Retryable != tc.retryable || (tc.err == "") != (r.Error == "") {
			t.Errorf("item %s: got id=%s outputs=%s err=%q retryable=%v", tc.id, r.ItemId, r.Outputs, r.Error, r.Retryable)
		}
	}
}

func TestPanicBecomesAnError(t *testing.T) {
	srv := sdk.InProcess(&step{})
	_, _ = srv.Configure(context.Background(), &blockv1.ConfigureRequest{})
	_, err := srv.Process(context.Background(), &blockv1.ProcessRequest{Items: []*blockv1.Item{{Id: "1", Fields: []byte(`{"do":"panic"}`)}}})
	if err == nil || !strings.Contains(err.Error(), "block panicked: boom") {
		t.Fatalf("want a panic error, got %v", err)
	}
}

func TestConfigureErrorIsReturned(t *testing.T) {
	srv := sdk.InProcess(&step{})
	if _, err := srv.Configure(context.Background(), &blockv1.ConfigureRequest{Config: []byte(`{"Fail": true}`)}); err == nil || !strings.Contains(err.Error(), "configure refused") {
		t.Fatalf("got %v", err)
	}
}

func TestServeHTTPRoundTrip(t *testing.T) {
	srv := sdk.InProcess(&step{})
	resp, err := srv.ServeHTTP(context.Background(), &blockv1.HTTPRequest{Method: "POST", Path: "/sign", RawQuery: "t=abc", Body: []byte("payload")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusTeapot || string(resp.Body) != "POST t=abc payload" {
		t.Errorf("got %d %q", resp.Status, resp.Body)
	}
	found := false
	for _, h := range resp.Headers {
		if h.Name == "X-Path" && h.Values[0] == "/sign" {
			found = true
		}
	}
	if !found {
		t.Errorf("headers lost: %v", resp.Headers)
	}
}

// TestHostCallIsTheInternalFlag: only a wire request with internal set is
// a host call; headers cannot make one.
func TestHostCallIsTheInternalFlag(t *testing.T) {
	srv := sdk.InProcess(&step{})
	for _, c := range []struct {
		req  *blockv1.HTTPRequest
		want bool
	}{
		{&blockv1.HTTPRequest{Method: "GET", Path: "/api/requests", Internal: true}, true},
		{&blockv1.HTTPRequest{Method: "GET", Path: "/api/requests"}, false},
		{&blockv1.HTTPRequest{Method: "GET", Path: "/api/requests", Headers: []*blockv1.Header{{Name: "X-Host-Call", Values: []string{"yes"}}}}, false},
	} {
		resp, err := srv.ServeHTTP(context.Background(), c.req)
		if err != nil {
			t.Fatal(err)
		}
		got := false
		for _, h := range resp.Headers {
			got = got || h.Name == "X-Host-Call"
		}
		if got != c.want {
			t.Errorf("internal=%v headers=%v: host call %v, want %v", c.req.Internal, c.req.Headers, got, c.want)
		}
	}
}

func TestKeysPage(t *testing.T) {
	all := []string{"tok.b", "req.c", "req.a", "seal.pem", "req.b"}
	for _, c := range []struct {
		prefix, after string
		limit         int
		want          string
		more          bool
	}{
		{"req.", "", 0, "req.a req.b req.c", false},
		{"req.", "", 2, "req.a req.b", true},
		{"req.", "req.b", 2, "req.c", false},
		{"", "", 0, "req.a req.b req.c seal.pem tok.b", false},
		{"img.", "", 0, "", false},
	} {
		page, more := sdk.KeysPage(all, c.prefix, c.after, c.limit)
		if strings.Join(page, " ") != c.want || more != c.more {
			t.Errorf("KeysPage(%q, %q, %d) = %v %v, want %q %v", c.prefix, c.after, c.limit, page, more, c.want, c.more)
		}
	}
}

func TestRetryableUnwraps(t *testing.T) {
	base := errors.New("base")
	err := sdk.Retryable(base)
	var be *sdk.Error
	if !errors.Is(err, base) || !errors.As(err, &be) || !be.Retryable {
		t.Errorf("Retryable(%v) lost its cause or flag", base)
	}
}
