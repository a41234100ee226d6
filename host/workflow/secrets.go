package workflow

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// SecretEnvPrefix starts the name of an environment variable that holds a
// secret: PAPERFLOW_SECRET_SMTP_PASSWORD is the secret SMTP_PASSWORD.
const SecretEnvPrefix = "PAPERFLOW_SECRET_"

// Secrets maps secret names to values. Its Lookup method is a tags.Scope's
// Secrets.
type Secrets map[string]string

// Lookup returns the secret called name. Environment variable names are
// usually upper case, so {{ .secrets.api_key }} finds API_KEY when there is no
// api_key.
func (s Secrets) Lookup(name string) (string, bool) {
	if v, ok := s[name]; ok {
		return v, true
	}
	v, ok := s[strings.ToUpper(name)]
	return v, ok
}

// LoadSecrets reads the secrets file, when file is not "", and then the
// PAPERFLOW_SECRET_<NAME> variables of environ, which win over the file.
//
// The file has NAME=value lines (an optional "export " before the name,
// optional quotes around the value, # comments and blank lines ignored); a
// file ending in .yaml or .yml is a map of names to values instead. Errors
// name the file and line but never quote its content, which may be a secret.
func LoadSecrets(file string, environ []string) (Secrets, error) {
	s := Secrets{}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("secrets file: %w", err)
		}
		switch strings.ToLower(filepath.Ext(file)) {
		case ".yaml", ".yml":
			err = readSecretsYAML(file, data, s)
		default:
			err = readSecretsEnv(file, data, s)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if name, ok = strings.CutPrefix(name, SecretEnvPrefix); ok && name != "" {
			s[name] = value
		}
	}
	return s, nil
}

func readSecretsEnv(file string, data []byte, s Secrets) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("%s:%d: expected NAME=value", file, n)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !tags.IsSecretName(name) {
			return fmt.Errorf("%s:%d: the name before \"=\" may only have letters, digits and _, and must not start with a digit", file, n)
		}
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		s[name] = value
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

func readSecretsYAML(file string, data []byte, s Secrets) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml.v3 syntax errors carry a line and no content.
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: expected a map of NAME: value", file, m.Line)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || !tags.IsSecretName(k.Value) {
			return fmt.Errorf("%s:%d: a name may only have letters, digits and _, and must not start with a digit", file, k.Line)
		}
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s:%d: the value of %s must be text", file, v.Line, k.Value)
		}
		s[k.Value] = v.Value
	}
	return nil
}
