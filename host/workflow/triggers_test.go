package workflow

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTriggersGolden loads every testdata/triggers/*.yaml and compares its
// problems, or its triggers, with the .golden file beside it.
func TestTriggersGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/triggers/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			w, probs := Load(file, catalog, WithSecrets(testSecrets))
			got := ""
			if len(probs) > 0 {
				got = probs.Error() + "\n"
			} else {
				got = triggersPlan(w)
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs (run go test -update to accept):\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func triggersPlan(w *Workflow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "workflow %s: triggers %s, source %q\n", w.Name, strings.Join(w.On.Kinds(), ", "), w.Source.Uses)
	if h := w.On.HTTP; h != nil {
		v, err := h.SecretValue(testSecrets)
		fmt.Fprintf(&b, "http: secret %q resolves to %q (%v)\n", h.Secret, v, err)
	}
	if f := w.On.Form; f != nil {
		fmt.Fprintf(&b, "form %q, thanks %q\n", f.Title, f.Thanks)
		for _, fl := range f.Fields {
			fmt.Fprintf(&b, "  %s (%s) %q required=%v enum=%v max=%d", fl.Name, fl.Type, fl.Label, fl.Required, fl.Enum, fl.MaxLength)
			if fl.Minimum != nil {
				fmt.Fprintf(&b, " min=%g", *fl.Minimum)
			}
			if fl.Maximum != nil {
				fmt.Fprintf(&b, " max=%g", *fl.Maximum)
			}
			b.WriteString("\n")
		}
	}
	from := time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC)
	for _, s := range w.On.Schedules {
		fmt.Fprintf(&b, "schedule %q in %s at %d:%d, missed %s, next after %s: %s\n", s.Cron, s.Location, s.Line, s.Col, s.Missed,
			from.Format(time.RFC3339), s.Spec.Next(from.In(s.Location)).Format(time.RFC3339))
	}
	return b.String()
}
