package pluginhost

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestPluginLogLinesReachSlog(t *testing.T) {
	var out bytes.Buffer
	w := &slogWriter{log: slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	// hclog JSON lines, split across writes as a pipe may deliver them.
	lines := `{"@level":"warn","@message":"slow template","@module":"plugin.template","item":"7"}` + "\n" +
		`{"@level":"error","@message":"cannot open","path":"x.docx"}` + "\nplain text line\n" + `{"@level":"info",`
	for _, chunk := range []string{lines[:30], lines[30:90], lines[90:]} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	got := out.String()
	for _, want := range []string{
		`"level":"WARN","msg":"slow template"`, `"plugin":"plugin.template"`, `"item":"7"`,
		`"level":"ERROR","msg":"cannot open"`, `"path":"x.docx"`, `"msg":"plain text line"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, `"@level":"info"`) {
		t.Errorf("a partial line was logged before its end")
	}
}

func TestStateKeysAreScopedPerBlock(t *testing.T) {
	a := &hostServer{in: Instance{Workflow: "wf", BlockID: "a"}}
	b := &hostServer{in: Instance{Workflow: "wf", BlockID: "b"}}
	tests := []struct{ key string }{{"simple"}, {"with space/and:colon"}, {".leading"}, {strings.Repeat("x", 500)}}
	for _, tc := range tests {
		ka, kb := a.stateKey(tc.key), b.stateKey(tc.key)
		if ka == kb || !strings.HasPrefix(ka, "wf.a.") || !kvSafe.MatchString(ka) {
			t.Errorf("key %q: %q and %q must differ, be prefixed and be valid NATS KV keys", tc.key, ka, kb)
		}
	}
}
