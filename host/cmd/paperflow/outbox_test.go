package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOutboxListsAndShowsSpooledMail: `paperflow run` spools its mail;
// `paperflow outbox` lists it beside an .eml file an earlier version
// wrote, and `outbox show` prints a message as sent.
func TestOutboxListsAndShowsSpooledMail(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"items.csv": "Name,Email\nAda,ada@example.com\nGrace,grace@example.com\n",
		"wf.yaml": `name: outbox
source: {uses: csv, with: {path: items.csv}}
blocks:
  - id: mail
    uses: email
    with: {from: "Ops <ops@example.com>", to: "{{Email}}", subject: "Hello {{Name}}", text: "Hi {{Name}}"}
`,
	})
	data := t.TempDir()
	old := "Message-ID: <old@example.com>\r\nTo: <linus@example.com>\r\nSubject: From before\r\n\r\nHi\r\n"
	if err := os.MkdirAll(filepath.Join(data, "outbox"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Named as earlier versions named it: the time, then a hash of the id.
	sum := sha256.Sum256([]byte("<old@example.com>"))
	if err := os.WriteFile(filepath.Join(data, "outbox", "20250101T000000.000000000-"+hex.EncodeToString(sum[:6])+".eml"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := paperflow(t, data, "run", filepath.Join(dir, "wf.yaml")); r.code != 0 {
		t.Fatalf("run: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if emls, _ := filepath.Glob(filepath.Join(data, "outbox", "*.eml")); len(emls) != 1 {
		t.Errorf("%d .eml files, want only the old one (new mail is spooled)", len(emls))
	}

	r := paperflow(t, data, "outbox")
	if r.code != 0 {
		t.Fatalf("outbox: %d %s %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"Subject: From before", "Subject: Hello Ada", "Subject: Hello Grace", "mail-000001.spool@", "3 message(s) in "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("outbox lacks %q:\n%s", want, r.stdout)
		}
	}
	ids := regexp.MustCompile(`Message-ID: (<[^>]+>)`).FindAllStringSubmatch(r.stdout, -1)
	if len(ids) != 3 || ids[0][1] != "<old@example.com>" {
		t.Fatalf("Message-IDs listed: %v", ids)
	}

	cases := []struct{ arg, want string }{
		{ids[0][1], old},
		{ids[1][1], "Message-ID: " + ids[1][1]},
		{strings.Trim(ids[2][1], "<>"), "Message-ID: " + ids[2][1]}, // without the brackets
	}
	for _, c := range cases {
		r := paperflow(t, data, "outbox", "show", c.arg)
		if r.code != 0 || !strings.Contains(r.stdout, c.want) {
			t.Errorf("outbox show %s: %d %q %s, want %q", c.arg, r.code, r.stdout, r.stderr, c.want)
		}
	}
	if r := paperflow(t, data, "outbox", "show", "<nope@example.com>"); r.code == 0 || !strings.Contains(r.stderr, "no message <nope@example.com> in the outbox") {
		t.Errorf("outbox show of an unknown id: %d %s", r.code, r.stderr)
	}
}
