package sdk_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoHostPackages: the SDK module is what third-party blocks import,
// so nothing of the host may be reachable from it, tests included: only
// the SDK itself and the protocol.
func TestNoHostPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if !strings.HasPrefix(pkg, "github.com/paperflow/paperflow/") {
			continue
		}
		if !strings.HasPrefix(pkg, "github.com/paperflow/paperflow/plugins/sdk") &&
			!strings.HasPrefix(pkg, "github.com/paperflow/paperflow/plugins/proto/") {
			t.Errorf("the SDK module reaches %s: it may depend on the protocol only", pkg)
		}
	}
}
