package pluginhost

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// newHCLogger returns an hclog.Logger for go-plugin whose output, including
// the lines a plugin writes to its stderr, ends up in the host's slog log.
func newHCLogger(log *slog.Logger, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      hclog.Info,
		JSONFormat: true,
		Output:     &slogWriter{log: log},
	})
}

// slogWriter takes hclog's JSON lines and logs them through slog.
type slogWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf bytes.Buffer
}

var _ io.Writer = (*slogWriter)(nil)

func (w *slogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadBytes('\n')
		if err != nil {
			// Keep the partial line for the next write.
			w.buf.Write(line)
			break
		}
		w.emit(bytes.TrimSpace(line))
	}
	return len(p), nil
}

func (w *slogWriter) emit(line []byte) {
	if len(line) == 0 {
		return
	}
	var rec map[string]any
	if err := json.Unmarshal(line, &rec); err != nil {
		w.log.Info(string(line))
		return
	}
	msg, _ := rec["@message"].(string)
	level := slog.LevelInfo
	switch strings.ToLower(str(rec["@level"])) {
	case "trace", "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	attrs := make([]slog.Attr, 0, len(rec))
	for k, v := range rec {
		switch k {
		case "@message", "@level", "@timestamp", "@caller":
			continue
		case "@module":
			k = "plugin"
		}
		attrs = append(attrs, slog.Any(k, v))
	}
	w.log.LogAttrs(context.Background(), level, msg, attrs...)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
