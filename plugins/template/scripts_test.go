package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// needFonts skips unless fontconfig finds a TrueType font for each rune:
// the fallback fonts come from the machine (Debian: fonts-droid-fallback
// for Chinese and Japanese, fonts-symbola for emoji).
func needFonts(t *testing.T, runes ...rune) {
	t.Helper()
	if _, err := exec.LookPath("fc-list"); err != nil {
		t.Skip("fontconfig (fc-list) is not installed")
	}
	for _, r := range runes {
		out, _ := exec.Command("fc-list", "-f", "%{fontformat}\n", fmt.Sprintf(":charset=%x", r)).Output()
		if !strings.Contains(string(out), "TrueType") {
			t.Skipf("no TrueType font for %c (U+%04X); install fonts-droid-fallback and fonts-symbola", r, r)
		}
	}
}

// Text the embedded DejaVu fonts lack is set in fonts found on the
// machine, embedded in the PDF; a character no font has is reported as a
// warning of the item, never dropped in silence.
func TestMarkdownFallbackFonts(t *testing.T) {
	needFonts(t, '中', 'カ', '✅')
	dir := t.TempDir()
	src := "# {{Title}}\n\nChinese: {{Chinese}}\n\nJapanese: **{{Japanese}}**\n\n| Emoji | Sundanese |\n|---|---|\n| {{Emoji}} | {{Sundanese}} |\n\nSmiley: {{Smiley}}\n"
	if err := os.WriteFile(filepath.Join(dir, "scripts.md"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{"template": "scripts.md", "name": "scripts"}
	b, h := mustConfigure(t, dir, cfg)
	fields := map[string]any{
		"Title":     "Zoë 你好",
		"Chinese":   "你好，世界。中文文本",
		"Japanese":  "こんにちは、カタカナ、漢字",
		"Emoji":     "✅ ✨ done",
		"Sundanese": "ᮃ", // U+1B83: no font on the machine has it
		"Smiley":    "😀 ok",
	}
	res := b.Process(context.Background(), []sdk.Item{withConfig(item(t, "1", fields), cfg)})[0]
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	pdf := h.get(res.Documents[0].ID)
	text := pdfText(t, pdf, "")
	for _, want := range []string{"Zoë 你好", "你好，世界。中文文本", "こんにちは、カタカナ、漢字", "✅ ✨ done", "😀 ok"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "\uFFFD"); n > 1 { // U+1B83
		t.Errorf("characters replaced by U+FFFD:\n%s", text)
	}
	warnings := fmt.Sprint(res.Outputs["warnings"])
	if !strings.Contains(warnings, "U+1B83") {
		t.Errorf("no warning names U+1B83; outputs %v", res.Outputs)
	}
	for _, w := range []string{"U+4E2D", "U+30AB", "U+2705", "U+1F600"} {
		if strings.Contains(warnings, w) {
			t.Errorf("warning for a character a font has: %v", warnings)
		}
	}

	bin, err := exec.LookPath("pdffonts")
	if err != nil {
		t.Skip("pdffonts (poppler-utils) is not installed")
	}
	file := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(file, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, file).CombinedOutput()
	if err != nil {
		t.Fatalf("pdffonts: %v\n%s", err, out)
	}
	embedded := 0
	for _, l := range strings.Split(string(out), "\n")[2:] {
		if f := strings.Fields(l); len(f) > 4 {
			if !strings.Contains(l, " yes ") {
				t.Errorf("font not embedded: %s", l)
			}
			embedded++
		}
	}
	if embedded < 3 { // DejaVu, a CJK font and an emoji font
		t.Errorf("%d fonts, want DejaVu and the fallbacks:\n%s", embedded, out)
	}
}
