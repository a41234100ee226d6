//go:build !linux

package pluginhost

import "os/exec"

// dieWithHost does nothing where the kernel has no parent-death signal;
// the block's own watchdog (plugins/sdk) ends it when the host is gone.
func dieWithHost(*exec.Cmd) {}
