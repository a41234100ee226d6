package engine_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/plugins/sdk"
)

// interruptAfterAccept is a mail transport whose server accepts the
// message, after which the caller is interrupted (Ctrl-C): the context
// is cancelled between the transport's OK and the host recording it.
type interruptAfterAccept struct {
	mail.Transport
	cancel context.CancelFunc
}

func (t interruptAfterAccept) Send(ctx context.Context, b *mail.Built) error {
	err := t.Transport.Send(ctx, b)
	if t.cancel != nil {
		t.cancel()
	}
	return err
}

// TestSendMailInterruptedAfterAcceptSendsOnce: an interrupt right after
// the transport accepted a message must not keep the host from recording
// it, so the redo of the item (`--resume`) does not send it again.
func TestSendMailInterruptedAfterAcceptSendsOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outbox := mail.Outbox{Dir: filepath.Join(t.TempDir(), "outbox")}
	env := newEnv(t, func(o *engine.Options) { o.Mail = interruptAfterAccept{Transport: outbox, cancel: cancel} })
	m := sdk.Mail{To: []string{"ada@example.com"}, Subject: "Hello", Text: "Hi", IdempotencyKey: "run-1/item-1/mail"}

	first, err := env.engine.SendMail(ctx, m)
	if err != nil {
		t.Fatalf("first send: %v", err)
	}
	if ctx.Err() == nil {
		t.Fatal("the transport did not interrupt the caller")
	}
	second, err := env.engine.SendMail(context.Background(), m)
	if err != nil {
		t.Fatalf("redo: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(outbox.Dir, "*.eml"))
	if len(files) != 1 {
		t.Errorf("%d messages sent for one idempotency key, want 1", len(files))
	}
	if first != second {
		t.Errorf("redo returned Message-ID %s, want the first one %s", second, first)
	}
}
