package workflow

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

func loadGood(t testing.TB) *Workflow {
	t.Helper()
	w, probs := Load("testdata/good.yaml", catalog, WithSecrets(testSecrets))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	return w
}

func itemScope(fields map[string]any) tags.Scope {
	return tags.Scope{
		Fields:  fields,
		Blocks:  map[string]any{"fill": map[string]any{"url": "https://docs.example.com/d/1"}},
		Secrets: testSecrets.Lookup,
	}
}

var item = map[string]any{
	"Email": "ada@example.com", "First Name": "Ada", "Customer Name": "Ada Lovelace",
	"Invoice Number": "2024-001", "Country": "DE", "Amount": "1234.5", "Paid": "no", "Due": "2024-04-01",
}

func TestResolveWith(t *testing.T) {
	w := loadGood(t)
	send := w.Block("send")
	if send.Static() || !w.Source.Static() {
		t.Fatalf("Static: send %v, source %v", send.Static(), w.Source.Static())
	}
	out, err := send.ResolveWith(itemScope(item))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	want := map[string]any{
		"to":      "ada@example.com",
		"subject": "Your invoice 2024-001",
		"attach":  []any{"fill"},
		"body":    "Dear Ada,\nyour total is €1,234.50.\nPlease pay by 1 April 2024.\nDownload: https://docs.example.com/d/1\n",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}

	notify, err := w.Block("notify").ResolveWith(itemScope(item))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"retries":3,"timeout":2.5,"token":"tok-123","url":"https://hooks.example.com/paperflow"}`; string(notify) != want {
		t.Errorf("got  %s\nwant %s", notify, want)
	}

	src, err := w.Source.ResolveWith(itemScope(nil))
	if err != nil || string(src) != string(w.Source.ConfigJSON()) {
		t.Errorf("static source: %s, %v", src, err)
	}
}

// A value that holds a tag is data: it comes out as written, and it cannot
// reach a secret.
func TestResolveWithValuesAreData(t *testing.T) {
	w := loadGood(t)
	evil := map[string]any{}
	for k, v := range item {
		evil[k] = v
	}
	evil["Email"] = "{{ .secrets.API_TOKEN }}"
	evil["Invoice Number"] = `"}, "to": "attacker@example.com`
	out, err := w.Block("send").ResolveWith(itemScope(evil))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "tok-123") {
		t.Fatalf("a secret leaked through a value: %s", out)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got["to"] != "{{ .secrets.API_TOKEN }}" {
		t.Errorf("to = %q", got["to"])
	}
	if got["subject"] != `Your invoice "}, "to": "attacker@example.com` {
		t.Errorf("subject = %q", got["subject"])
	}
}

func TestResolveWithError(t *testing.T) {
	w := loadGood(t)
	_, err := w.Block("send").ResolveWith(itemScope(map[string]any{"Email": "x"}))
	var ue *tags.UnknownRefError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want an *UnknownRefError", err)
	}
	if want := `block "send": with.body: unknown field "Amount" in {{Amount | currency "EUR"}} at 2:15`; err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}

func TestRuns(t *testing.T) {
	w := loadGood(t)
	for country, want := range map[string]bool{"DE": true, "FR": false} {
		runs, err := w.Block("send").Runs(itemScope(map[string]any{"Country": country}))
		if err != nil || runs != want {
			t.Errorf("Country %s: runs %v, %v; want %v", country, runs, err, want)
		}
	}
	if runs, err := w.Block("fill").Runs(itemScope(nil)); !runs || err != nil {
		t.Errorf("no if: runs %v, %v", runs, err)
	}
	// A missing field in a condition is simply false.
	if runs, err := w.Block("send").Runs(itemScope(nil)); runs || err != nil {
		t.Errorf("missing field: runs %v, %v", runs, err)
	}
	// A helper that cannot read a value is still an error.
	b := w.Block("send")
	b.cond, _ = tags.Parse(`{{Country | date}}`)
	if _, err := b.Runs(itemScope(map[string]any{"Country": "DE"})); err == nil || !strings.HasPrefix(err.Error(), `block "send": if: {{Country | date}} at 1:1: cannot read "DE" as a date`) {
		t.Errorf("got %v", err)
	}
}

func TestRunsConstant(t *testing.T) {
	w, probs := Load("testdata/anchors.yaml", catalog)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	b := w.Blocks[0]
	for _, tc := range []struct {
		cond string
		want bool
	}{{"false", false}, {"no", false}, {"true", true}, {"{{Paid}}", false}} {
		t.Run(tc.cond, func(t *testing.T) {
			c, err := tags.Parse(tc.cond)
			if err != nil {
				t.Fatal(err)
			}
			b.If, b.cond = tc.cond, c
			if runs, err := b.Runs(itemScope(map[string]any{"Paid": "no"})); runs != tc.want || err != nil {
				t.Errorf("runs %v, %v", runs, err)
			}
		})
	}
}

func BenchmarkResolveWith(b *testing.B) {
	w := loadGood(b)
	send := w.Block("send")
	s := itemScope(item)
	b.Run("send", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := send.ResolveWith(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The baseline: what a resolver that walks the map and marshals with
	// encoding/json would cost, measured in the same run.
	b.Run("baseline-walk-and-marshal", func(b *testing.B) {
		b.ReportAllocs()
		tpls := map[string]*tags.Template{}
		for k, v := range send.With {
			if str, ok := v.(string); ok {
				tpls[k], _ = tags.Parse(str)
			}
		}
		for b.Loop() {
			out := make(map[string]any, len(send.With))
			for k, v := range send.With {
				if t, ok := tpls[k]; ok {
					r, err := t.Render(s)
					if err != nil {
						b.Fatal(err)
					}
					out[k] = r
					continue
				}
				out[k] = v
			}
			if _, err := json.Marshal(out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("runs", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := send.Runs(s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, probs := Load("testdata/good.yaml", catalog, WithSecrets(testSecrets)); len(probs) > 0 {
			b.Fatal(probs)
		}
	}
}
