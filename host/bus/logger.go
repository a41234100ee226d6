package bus

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// serverLogger passes the embedded nats-server's log lines to paperflow's
// logger, so what the server notices about its store (a corrupt block,
// lost messages) reaches the operator instead of vanishing.
type serverLogger struct{ log *slog.Logger }

// The server announces itself at length at start-up: notices go out at
// debug unless they speak of trouble.
func (l serverLogger) Noticef(format string, v ...any) {
	level := slog.LevelDebug
	if troubling(format) {
		level = slog.LevelInfo
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats-server")
}

func (l serverLogger) Warnf(format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...), "component", "nats-server")
}

func (l serverLogger) Errorf(format string, v ...any) {
	l.log.Error(fmt.Sprintf(format, v...), "component", "nats-server")
}

func (l serverLogger) Fatalf(format string, v ...any) {
	l.log.Error(fmt.Sprintf(format, v...), "component", "nats-server", "fatal", true)
}

func (l serverLogger) Debugf(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "nats-server")
}

func (l serverLogger) Tracef(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "nats-server")
}

// troubling picks out the notices an operator should see at info, by
// their wording (not their arguments, which hold paths and names).
func troubling(msg string) bool {
	m := strings.ToLower(msg)
	for _, w := range []string{"lost", "corrupt", "error", "failed", "missing", "inconsisten", "truncat", "rebuild"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

var _ server.Logger = serverLogger{}
