package mail_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/paperflow/paperflow/host/mail"
)

// temporary is an error of another package that says it may pass.
type temporary struct{ temp bool }

func (t temporary) Error() string   { return "temporary" }
func (t temporary) Temporary() bool { return t.temp }

func TestIsTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"4xx reply", &mail.SendError{Temporary: true, Err: errors.New("421")}, true},
		{"5xx reply", &mail.SendError{Err: errors.New("550")}, false},
		{"wrapped 4xx reply", fmt.Errorf("send: %w", &mail.SendError{Temporary: true, Err: errors.New("451")}), true},
		{"an error that says it is temporary", fmt.Errorf("read record: %w", temporary{true}), true},
		{"an error that says it is not", temporary{false}, false},
		{"a plain error", errors.New("boom"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mail.IsTransient(tt.err); got != tt.want {
				t.Errorf("IsTransient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
