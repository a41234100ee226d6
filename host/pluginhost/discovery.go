// Package pluginhost finds block plugins, starts them as go-plugin
// processes, keeps them running (restarting a crashed or hung one with
// backoff), and serves them the Host service.
package pluginhost

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// DefaultDir is where blocks are looked for when no directory is
// configured: "plugins" next to the paperflow binary.
func DefaultDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "plugins"
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Join(filepath.Dir(exe), "plugins")
}

// Registry maps `uses:` names to block binaries in a plugin directory.
type Registry struct {
	Dir string
	// Settings are the host settings for the blocks started from Dir;
	// nil takes them from the host's environment.
	Settings Settings
}

var blockName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// Path returns the binary for a block name.
func (r Registry) Path(uses string) (string, error) {
	if !blockName.MatchString(uses) {
		return "", fmt.Errorf("block name %q: use lowercase letters, digits, '-', '_' or '.'", uses)
	}
	p := filepath.Join(r.Dir, uses)
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("block %q not found in plugin directory %s (installed: %s; build with `make build` or set --plugins / PAPERFLOW_PLUGIN_DIR)",
			uses, r.Dir, strings.Join(r.Names(), ", "))
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("block %q: %s is not an executable file", uses, p)
	}
	return p, nil
}

// Names lists the executables in the plugin directory, sorted.
func (r Registry) Names() []string {
	entries, err := os.ReadDir(r.Dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || e.IsDir() || info.Mode()&0o111 == 0 || !blockName.MatchString(e.Name()) {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}
