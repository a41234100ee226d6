package workflow

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadSecrets(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "secrets.env")
	os.WriteFile(env, []byte("# comment\n\nAPI_TOKEN=from-file\nexport SMTP_PASSWORD = \"quoted value\"\nEMPTY=\nWITH_EQ=a=b\n"), 0o600)
	s, err := LoadSecrets(env, []string{"PAPERFLOW_SECRET_API_TOKEN=from-env", "PAPERFLOW_SECRET_OTHER=o", "PAPERFLOW_SECRET_=x", "HOME=/root", "BROKEN"})
	if err != nil {
		t.Fatal(err)
	}
	want := Secrets{"API_TOKEN": "from-env", "SMTP_PASSWORD": "quoted value", "EMPTY": "", "WITH_EQ": "a=b", "OTHER": "o"}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got %v, want %v", s, want)
	}
	if v, ok := s.Lookup("api_token"); !ok || v != "from-env" {
		t.Errorf("Lookup falls back to upper case: %q %v", v, ok)
	}
	if _, ok := s.Lookup("NOPE"); ok {
		t.Error("Lookup(NOPE)")
	}

	yml := filepath.Join(dir, "secrets.yaml")
	os.WriteFile(yml, []byte("API_TOKEN: y\nnumber: 42\n"), 0o600)
	s, err = LoadSecrets(yml, nil)
	if err != nil || !reflect.DeepEqual(s, Secrets{"API_TOKEN": "y", "number": "42"}) {
		t.Errorf("yaml: %v, %v", s, err)
	}

	s, err = LoadSecrets("", []string{"PAPERFLOW_SECRET_A=1"})
	if err != nil || s["A"] != "1" {
		t.Errorf("env only: %v, %v", s, err)
	}
}

// A broken secrets file is reported by file and line, without its content.
func TestLoadSecretsErrorsHideValues(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"no-equals.env":  "OK=1\nhunter2-secret\n",
		"bad-name.env":   "hunter2-secret x=1\n",
		"bad.yaml":       "A: [hunter2-secret]\n",
		"bad-key.yaml":   "hunter2-secret key: v\n",
		"not-a-map.yaml": "- hunter2-secret\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			os.WriteFile(path, []byte(content), 0o600)
			_, err := LoadSecrets(path, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the content: %v", err)
			}
			if !strings.Contains(err.Error(), name+":") {
				t.Errorf("the error does not name the file and line: %v", err)
			}
		})
	}
	if _, err := LoadSecrets(filepath.Join(dir, "missing.env"), nil); err == nil {
		t.Error("a missing secrets file is an error")
	}
}
