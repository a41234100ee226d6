package mail_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/paperflow/paperflow/host/mail"
)

// TestOutboxIsPrivate: queued mail holds signing links and documents, so
// other local users cannot read it, in either layout.
func TestOutboxIsPrivate(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	for _, spool := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "outbox")
		o := mail.Outbox{Dir: dir, Spool: spool}
		t.Cleanup(func() { o.Close() })
		if err := o.Send(context.Background(), build(t, sampleMessage(nil))); err != nil {
			t.Fatal(err)
		}
		files, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil || len(files) != 1 {
			t.Fatalf("spool %v: %v %v", spool, files, err)
		}
		for path, want := range map[string]os.FileMode{dir: 0o700, files[0]: 0o600} {
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Mode().Perm(); got&^want != 0 {
				t.Errorf("%s: mode %v, want at most %v", filepath.Base(path), got, want)
			}
		}
	}
}

// TestOutboxWithoutDirectoryRefuses: an outbox with no directory never
// writes mail into whatever the working directory is.
func TestOutboxWithoutDirectoryRefuses(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := (mail.Outbox{}).Send(context.Background(), build(t, sampleMessage(nil))); err == nil {
		t.Fatal("an outbox without a directory sent mail")
	}
	if left, _ := filepath.Glob("*.eml"); len(left) != 0 {
		t.Errorf("mail written to the working directory: %v", left)
	}
}
