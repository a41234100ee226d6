package pdfform

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/api"

	ex "github.com/paperflow/paperflow/plugins/template/internal/examplefiles"
)

func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext (poppler-utils) is not installed: cannot check the PDF with an independent reader")
	}
	file := filepath.Join(t.TempDir(), "form.pdf")
	if err := os.WriteFile(file, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-enc", "UTF-8", file, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	return string(out)
}

func exampleForm(t testing.TB) *Form {
	t.Helper()
	data, err := ex.Form()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var person = map[string]string{
	"First Name": "Łukasz", "Last Name": "Zoë Ångström", "Email": "lukasz.nowak@example.com",
	"Company": "Wisła Logistics", "Amount": "3400.00", "Due Date": "2026-03-10", "Country": "Poland", "Paid": "yes",
}

func TestFields(t *testing.T) {
	f := exampleForm(t)
	got := strings.Join(f.Names(), ",")
	if got != "Amount,Company,Country,Due Date,Email,First Name,Last Name,Paid" {
		t.Errorf("fields: %s", got)
	}
	if n, ok := f.Field("first name"); !ok || n != "First Name" {
		t.Errorf("case-insensitive lookup: %q %v", n, ok)
	}
}

func TestFillShowsValues(t *testing.T) {
	f := exampleForm(t)
	for _, flatten := range []bool{false, true} {
		out, err := f.Fill(person, flatten)
		if err != nil {
			t.Fatal(err)
		}
		text := pdfText(t, out)
		for _, want := range []string{"Łukasz", "Zoë Ångström", "Wisła Logistics", "lukasz.nowak@example.com", "3400.00", "Poland"} {
			if !strings.Contains(text, want) {
				t.Errorf("flatten=%v: text lacks %q:\n%s", flatten, want, text)
			}
		}
		fields, err := api.FormFields(bytes.NewReader(out), nil)
		if flatten {
			if err == nil && len(fields) > 0 {
				t.Errorf("flattened form still has %d fields", len(fields))
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		values := map[string]string{}
		for _, fl := range fields {
			values[fl.Name] = fl.V
		}
		if values["First Name"] != "Łukasz" || values["Country"] != "Poland" || values["Amount"] != "3400.00" {
			t.Errorf("field values: %v", values)
		}
	}
}

func TestFillErrors(t *testing.T) {
	f := exampleForm(t)
	for _, c := range []struct {
		values map[string]string
		want   string
	}{
		{map[string]string{"Nickname": "x"}, `the form has no field "Nickname"`},
		{map[string]string{"Country": "Atlantis"}, `form field "Country" (combo box) has no option "Atlantis"; its options are "France"`},
	} {
		if _, err := f.Fill(c.values, false); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}

func TestHostileValues(t *testing.T) {
	f := exampleForm(t)
	for name, v := range map[string]string{
		"long":     strings.Repeat("W", 100_000),
		"rtl":      "שלום مرحبا",
		"emoji":    "Hi 🙂 there",
		"controls": "a\x00b\x1b\u202ec",
		"latin":    "(paren) \\ back",
	} {
		out, err := f.Fill(map[string]string{"First Name": v, "Company": v}, false)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		text := pdfText(t, out)
		if name == "emoji" && !strings.Contains(text, "Hi") {
			t.Errorf("emoji: %q", text)
		}
	}
}

func TestNotAForm(t *testing.T) {
	for name, data := range map[string][]byte{"garbage": []byte("%PDF-1.7 nonsense"), "empty": nil} {
		if _, err := Open(data); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}
